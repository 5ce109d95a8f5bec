//! SPL playbooks: the JSON playbook format of Sekoia.io that alertsync runs.
//!
//! This crate is pure (no IO, no async): it loads and exports playbooks without
//! losing a key ([`load`], [`model`]), checks them before they may be enabled
//! ([`validate`]), renders their Jinja templates the way Sekoia.io does
//! ([`template`]) and evaluates the operator nodes' building blocks
//! ([`operators`]). The engine drives runs with these pieces.

pub mod load;
pub mod model;
pub mod modules;
pub mod operators;
pub mod template;
pub mod validate;

pub use load::{LoadError, parse_playbook};
pub use model::{Case, Modification, Node, NodeKind, Operator, Playbook, ShapeProblem};

pub use operators::{OperatorError, apply_modification, evaluate_case, foreach_items};
pub use template::{
    RenderContext, TemplateEngine, TemplateError, TemplateErrorKind, TemplateLimits, references,
};
pub use validate::{Catalog, NeededModule, Problem, Report, validate};
