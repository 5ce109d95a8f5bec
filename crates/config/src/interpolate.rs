//! `${VAR}` interpolation of configuration strings.
//!
//! `${NAME}` is replaced by the environment variable `NAME` (letters, digits and `_`, not
//! starting with a digit); `$${` stands for a literal `${`; any other `$` is kept as is.

/// Why a string could not be interpolated. Never carries a variable's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InterpolationError {
    /// `${NAME}` where `NAME` is not set.
    Unset(String),
    /// `${` without a closing `}`.
    Unterminated,
    /// `${...}` whose content is not a variable name.
    InvalidName(String),
}

/// Replaces every `${NAME}` in `text`; reports every problem in the string, not only the first.
pub(crate) fn interpolate(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Vec<InterpolationError>> {
    let mut out = String::with_capacity(text.len());
    let mut errors = Vec::new();
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar..];
        if let Some(escaped) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = escaped;
        } else if let Some(reference) = after.strip_prefix("${") {
            let Some(end) = reference.find('}') else {
                errors.push(InterpolationError::Unterminated);
                rest = "";
                break;
            };
            let name = &reference[..end];
            if !is_variable_name(name) {
                errors.push(InterpolationError::InvalidName(name.to_owned()));
            } else if let Some(value) = env(name) {
                out.push_str(&value);
            } else {
                errors.push(InterpolationError::Unset(name.to_owned()));
            }
            rest = &reference[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "KEY" => Some("s3cret".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn replaces_variables_and_keeps_the_rest() {
        assert_eq!(interpolate("a ${KEY} b", &env).as_deref(), Ok("a s3cret b"));
        assert_eq!(
            interpolate("${KEY}${KEY}", &env).as_deref(),
            Ok("s3crets3cret")
        );
        assert_eq!(interpolate("x${EMPTY}y", &env).as_deref(), Ok("xy"));
        assert_eq!(interpolate("cost: $5 $", &env).as_deref(), Ok("cost: $5 $"));
        assert_eq!(interpolate("", &env).as_deref(), Ok(""));
        assert_eq!(interpolate("é${KEY}ü", &env).as_deref(), Ok("és3cretü"));
    }

    #[test]
    fn double_dollar_escapes_a_reference() {
        assert_eq!(interpolate("$${KEY}", &env).as_deref(), Ok("${KEY}"));
        assert_eq!(
            interpolate("$${UNSET} ${KEY}", &env).as_deref(),
            Ok("${UNSET} s3cret")
        );
        assert_eq!(interpolate("$$x", &env).as_deref(), Ok("$$x"));
        assert_eq!(interpolate("$$${KEY}", &env).as_deref(), Ok("$${KEY}"));
    }

    #[test]
    fn reports_every_problem() {
        assert_eq!(
            interpolate("${A} ${KEY} ${B}", &env),
            Err(vec![
                InterpolationError::Unset("A".to_owned()),
                InterpolationError::Unset("B".to_owned())
            ])
        );
        assert_eq!(
            interpolate("${A-b} ${KEY", &env),
            Err(vec![
                InterpolationError::InvalidName("A-b".to_owned()),
                InterpolationError::Unterminated
            ])
        );
        assert_eq!(
            interpolate("${}", &env),
            Err(vec![InterpolationError::InvalidName(String::new())])
        );
        assert_eq!(
            interpolate("${1X}", &env),
            Err(vec![InterpolationError::InvalidName("1X".to_owned())])
        );
    }
}
