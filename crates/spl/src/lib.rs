//! SPL playbooks.
