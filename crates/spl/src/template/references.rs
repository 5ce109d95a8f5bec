//! Which nodes a template reads (`node.N`, `node[N]`, `node['N']`).

use std::sync::OnceLock;

use regex::Regex;

/// Ids of the nodes `template` reads, in order of first appearance.
///
/// Only literal ids are found; a computed subscript (`node[x]`) names no node.
pub fn references(template: &str) -> Vec<String> {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    let pattern = PATTERN.get_or_init(|| {
        Regex::new(r#"(?:^|[^\w.])node\s*(?:\.\s*(\d+)|\[\s*(?:(\d+)|'(\d+)'|"(\d+)")\s*\])"#)
            .unwrap_or_else(|err| unreachable!("the node reference pattern is valid: {err}"))
    });
    let mut ids: Vec<String> = Vec::new();
    for captures in pattern.captures_iter(template) {
        let id = captures.iter().skip(1).flatten().next().map(|m| m.as_str());
        if let Some(id) = id
            && !ids.iter().any(|known| known == id)
        {
            ids.push(id.to_owned());
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::references;

    #[test]
    fn finds_every_spelling_once() {
        let template = r#"{{ node.0.a }} {{ node['12'].b }} {{ node["3"] }} {{ node[4] }} {{ node.0 }} {{ mynode.5 }}"#;
        assert_eq!(references(template), ["0", "12", "3", "4"]);
    }

    #[test]
    fn computed_subscripts_name_no_node() {
        assert!(references("{{ node[x].y }}").is_empty());
    }
}
