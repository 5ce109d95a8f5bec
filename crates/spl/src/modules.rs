//! Sekoia.io modules known by uuid, so that a playbook needing one alertsync
//! does not implement can say which (`needs module VirusTotal (uuid)`).
//!
//! The names come from the modules the published playbooks use.

/// (uuid, name) of Sekoia.io modules.
const SEKOIA_MODULES: &[(&str, &str)] = &[
    ("92d8bb47-7c51-445d-81de-ae04edbb6f0a", "Sekoia.io"),
    ("5894985f-91eb-46db-9306-cc5ac6463d3d", "HTTP"),
    ("07cce76b-a319-40ee-a0cf-1ba433431e21", "Utils"),
    ("1ad1b7ce-e335-4532-83ce-1d43c864720c", "Cron"),
    ("89c860f0-3e73-4946-a5c9-431deb33b0e8", "Mattermost"),
    ("4970d347-495b-4f40-8e66-244abec12d8b", "ilert"),
    ("97864342-32c5-4076-b590-ba0179db9233", "PagerDuty"),
    ("25c9c44e-b3dc-4485-a2cb-4e9a116bc8fd", "Shodan"),
    ("4fdbae70-e9cd-492e-9a39-24ce99325e3f", "CrowdStrike Falcon"),
    (
        "e76687ed-db66-482a-8549-f3ef3b248e06",
        "Digital Shadows SearchLight",
    ),
    ("d023af1d-25d8-465b-b85f-2ed48214d6a5", "VirusTotal"),
    (
        "3c334ccd-91be-49d5-9267-915db6ab588e",
        "I Know What You Download",
    ),
    ("19cf9b48-dc7a-485f-ba14-3b7b998774c1", "OSINT"),
    ("5fdf8838-1529-4243-8fbc-e6bfa7b52e30", "STIX observables"),
    ("081074fc-240d-437f-a214-fba49691e69e", "Tranco"),
    ("8380240b-61a4-48b7-93e4-044a7ee2309b", "HarfangLab"),
    ("48086812-d709-4eff-b308-e8bf504b8a7a", "TheHive"),
    ("bc2699a6-93e5-4d74-816d-4186d6eb3ce8", "Email"),
    (
        "4f682a9e-9a25-43a5-8a48-cd9bd7fade7e",
        "Google Cloud Pub/Sub",
    ),
    ("e2215979-3462-4fb6-8635-57700aada01c", "Panda Security"),
    ("1411df5b-5de1-40bd-a988-725cfe692aff", "Vade Secure"),
    ("ee0e5c81-5410-48d4-b155-135679c5ebb8", "Imperva"),
    ("537e1880-5b6c-4b46-ae6c-f228cfc6c6e4", "Cortex XSIAM"),
    ("0664bc2d-8f09-410f-ab8f-e0e07911a6f4", "Nybble Hub"),
];

/// The name of the Sekoia.io module with this uuid, when known.
pub fn sekoia_module_name(module_uuid: &str) -> Option<&'static str> {
    SEKOIA_MODULES
        .iter()
        .find(|(uuid, _)| uuid.eq_ignore_ascii_case(module_uuid))
        .map(|(_, name)| *name)
}
