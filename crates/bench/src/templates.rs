//! Template rendering throughput: every argument template of the corpus playbooks,
//! rendered with the product's template engine against a realistic run context.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use alertsync_spl::{RenderContext, TemplateEngine, parse_playbook};
use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::stats::round3;

#[derive(Debug, Serialize)]
pub struct Rendering {
    pub playbooks: usize,
    /// Argument strings holding a template.
    pub templates: usize,
    /// Of those, the ones that render against the benchmark's context (the rest need
    /// node outputs it does not model; they are left out of the timing).
    pub rendered: usize,
    pub renders: u64,
    pub seconds: f64,
    pub renders_per_second: f64,
}

pub fn run(corpus: &Path, budget: Duration) -> anyhow::Result<Rendering> {
    let corpus = corpus_templates(corpus)?;
    let (playbooks, templates) = (corpus.playbooks, corpus.templates);
    let engine = TemplateEngine::new();
    let context = context(&corpus.node_ids);
    let usable: Vec<&String> = templates
        .iter()
        .filter(|template| engine.render_str(template, &context).is_ok())
        .collect();
    if usable.is_empty() {
        bail!("no corpus template renders");
    }
    let started = Instant::now();
    let mut renders = 0u64;
    while started.elapsed() < budget {
        for template in &usable {
            // Checked above; an error here would still be a render done.
            let _ = std::hint::black_box(engine.render_str(template, &context));
            renders += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(Rendering {
        playbooks,
        templates: templates.len(),
        rendered: usable.len(),
        renders,
        seconds: round3(seconds),
        renders_per_second: round3(renders as f64 / seconds),
    })
}

/// What the corpus holds for this measurement.
struct Corpus {
    playbooks: usize,
    /// Every template string under the nodes' `arguments`.
    templates: Vec<String>,
    /// Every node id of any playbook.
    node_ids: BTreeSet<String>,
}

fn corpus_templates(corpus: &Path) -> anyhow::Result<Corpus> {
    let mut files: Vec<_> = std::fs::read_dir(corpus)
        .with_context(|| format!("cannot read the corpus at {}", corpus.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    let mut playbooks = 0;
    let mut templates = Vec::new();
    let mut node_ids = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // The catalogue file and anything else that is not a playbook is skipped.
        let Ok(playbook) = parse_playbook(&text, &name) else {
            continue;
        };
        playbooks += 1;
        for (id, node) in playbook.nodes() {
            node_ids.insert(id.clone());
            if let Some(arguments) = node.raw.get("arguments") {
                collect_templates(arguments, &mut templates);
            }
        }
    }
    Ok(Corpus {
        playbooks,
        templates,
        node_ids,
    })
}

fn collect_templates(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::String(text) if text.contains("{{") || text.contains("{%") => {
            into.push(text.clone())
        }
        Value::Array(items) => items.iter().for_each(|item| collect_templates(item, into)),
        Value::Object(fields) => fields
            .values()
            .for_each(|item| collect_templates(item, into)),
        _ => {}
    }
}

/// Every node id of the corpus holds an alert-like output.
fn context(node_ids: &BTreeSet<String>) -> RenderContext {
    let output = json!({
        "alert_uuid": "6a7d4b3e-2f1c-4d5e-9a8b-7c6d5e4f3a2b", "uuid": "6a7d4b3e-2f1c-4d5e-9a8b-7c6d5e4f3a2b",
        "short_id": "ALbench01", "title": "Suspicious login", "details": "seen twice",
        "created_at": 1_700_000_000, "urgency": {"value": 70, "current_value": 70},
        "status": {"uuid": "st", "name": "Ongoing"}, "rule": {"name": "Login", "uuid": "ru", "description": "d"},
        "alert_type": {"value": "login", "category": "access"}, "entity": {"name": "corp"},
        "events": [{"source.ip": "192.0.2.1", "destination.ip": "198.51.100.2", "host.name": "web-1", "message": "m"}],
        "items": [{"uuid": "i1"}], "data": [{"hostnames": ["web-1"], "domains": ["example.com"]}],
        "text": "{}", "json": {}, "status_code": 200, "output": ["192.0.2.1"], "stix": {"objects": []},
        "default": {"value": "192.0.2.1", "index": 0, "total": 1}
    });
    let mut nodes = Map::new();
    for id in node_ids {
        nodes.insert(id.clone(), output.clone());
    }
    RenderContext::new(
        nodes,
        json!({"alert": {"uuid": "a"}, "ip": ["192.0.2.1"], "tags": ["x"]}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_templates_at_any_depth() {
        let mut found = Vec::new();
        collect_templates(
            &json!({"a": "{{ node.1.uuid }}", "b": ["plain", {"c": "{% if x %}y{% endif %}"}], "d": 1}),
            &mut found,
        );
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn renders_a_template_with_the_context() {
        let engine = TemplateEngine::new();
        let ids = BTreeSet::from(["3".to_owned()]);
        let text = engine
            .render_str("{{ node.3.short_id }}", &context(&ids))
            .unwrap();
        assert_eq!(text, "ALbench01");
    }
}
