//! Password Generator: a random password with at least the digits and special characters
//! asked for, drawn from the operating system's randomness.

use alertsync_engine::{Action, ActionContext, ActionError, ActionManifest, ActionOutput};
use async_trait::async_trait;
use rand::Rng;
use rand::seq::SliceRandom;
use serde_json::{Value, json};

const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &[u8] = b"0123456789";
const SPECIALS: &[u8] = b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
/// Longest password generated.
const MAX_LENGTH: u64 = 4096;

/// Generates a password.
pub struct PasswordGenerator {
    manifest: ActionManifest,
}

impl PasswordGenerator {
    pub fn new() -> Self {
        Self {
            manifest: ActionManifest {
                uuid: "128b8b23-8535-4ee0-8510-6175573dbe6d",
                name: "Password Generator",
                slug: "generate_password",
                command: "password_generator",
                description: "Generate a random password",
                arguments: json!({
                    "type": "object",
                    "properties": {
                        "password_length": {"type": "integer", "default": 20, "minimum": 1, "maximum": MAX_LENGTH},
                        "number_of_digits": {"type": "integer", "default": 1, "minimum": 0},
                        "number_of_special_characters": {"type": "integer", "default": 1, "minimum": 0}
                    }
                }),
                secrets: Vec::new(),
                results: json!({"type": "object", "properties": {"password": {"type": "string"}}}),
                outputs: Vec::new(),
            },
        }
    }
}

impl Default for PasswordGenerator {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Action for PasswordGenerator {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, _cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let number =
            |name: &str, default: u64| args.get(name).and_then(Value::as_u64).unwrap_or(default);
        let length = number("password_length", 20);
        let digits = number("number_of_digits", 1);
        let specials = number("number_of_special_characters", 1);
        if digits.saturating_add(specials) > length {
            return Err(ActionError::invalid_argument(
                "password_length",
                "must be at least number_of_digits + number_of_special_characters",
            ));
        }
        let password = generate(length as usize, digits as usize, specials as usize);
        Ok(ActionOutput::new(json!({"password": password})))
    }
}

fn generate(length: usize, digits: usize, specials: usize) -> String {
    let mut rng = rand::rng();
    let any: Vec<u8> = [LETTERS, DIGITS, SPECIALS].concat();
    let mut draw = |set: &[u8], n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| set[rng.random_range(0..set.len())])
            .collect()
    };
    let mut chars = draw(SPECIALS, specials);
    chars.extend(draw(DIGITS, digits));
    chars.extend(draw(&any, length - specials - digits));
    chars.shuffle(&mut rand::rng());
    String::from_utf8_lossy(&chars).into_owned()
}

#[cfg(test)]
mod tests {
    use super::generate;

    #[test]
    fn passwords_have_the_length_and_the_characters_asked_for() {
        let password = generate(24, 3, 2);
        assert_eq!(password.len(), 24);
        assert!(password.chars().filter(char::is_ascii_digit).count() >= 3);
        assert!(
            password
                .chars()
                .filter(|c| c.is_ascii_punctuation())
                .count()
                >= 2
        );
        assert_ne!(generate(24, 3, 2), password);
    }
}
