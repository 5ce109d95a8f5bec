//! The playbook graph as inline SVG: nodes laid out left to right in layers by their
//! longest path from the triggers, edges as curves with arrows, each node a
//! `<g class="node" data-node-id=… data-status=… data-kind=…>` the stylesheet colours by
//! status and shapes by kind (trigger: pill, action: rectangle, operator: hexagon).
//!
//! Loops (a loop body leading back to its Foreach) are cut where a depth-first walk from
//! the triggers meets a node it is still inside, so layering always ends; the cut edges
//! are still drawn, curving below.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use alertsync_spl::{Node, NodeKind, Operator, Playbook};

use super::html::esc;

const NODE_W: i64 = 190;
const NODE_H: i64 = 56;
const GAP_X: i64 = 70;
const GAP_Y: i64 = 28;
const MARGIN: i64 = 20;
/// Characters of a node name shown in the box; the whole name is in its tooltip.
const LABEL_CHARS: usize = 21;

/// An edge of the graph: `from`'s output `output` activates `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub from: String,
    pub output: String,
    pub to: String,
}

/// What a node is, as the graph shows it.
pub fn kind(node: &Node) -> (&'static str, &'static str) {
    match &node.kind {
        NodeKind::Trigger { .. } => ("trigger", "trigger"),
        NodeKind::Action { .. } => ("action", "action"),
        NodeKind::Operator(Operator::Condition { .. }) => ("operator", "condition"),
        NodeKind::Operator(Operator::Foreach { .. }) => ("operator", "foreach"),
        NodeKind::Operator(Operator::Store { .. }) => ("operator", "store"),
        NodeKind::Operator(Operator::Unknown { .. }) => ("operator", "operator"),
        NodeKind::Unknown { .. } => ("unknown", "unknown"),
    }
}

/// Every edge between nodes of the playbook, in file order; a Foreach's loop body start is
/// the edge of its `loop` output.
pub fn edges(playbook: &Playbook) -> Vec<Edge> {
    let nodes = playbook.nodes();
    let mut edges = Vec::new();
    for node in nodes.values() {
        if let NodeKind::Operator(Operator::Foreach {
            loop_start: Some(start),
            ..
        }) = &node.kind
            && nodes.contains_key(start)
        {
            edges.push(Edge {
                from: node.id.clone(),
                output: "loop".to_owned(),
                to: start.clone(),
            });
        }
        for (output, targets) in &node.outputs {
            for target in targets.iter().filter(|t| nodes.contains_key(*t)) {
                edges.push(Edge {
                    from: node.id.clone(),
                    output: output.clone(),
                    to: target.clone(),
                });
            }
        }
    }
    edges
}

/// Where each node goes: its layer (column) and row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Place {
    layer: usize,
    row: usize,
}

/// The layers of the playbook's nodes: longest path from the triggers over the edges that
/// do not close a loop; rows in file order, then ordered by the rows of their predecessors.
fn layout(playbook: &Playbook, edges: &[Edge]) -> HashMap<String, Place> {
    let ids: Vec<&str> = playbook.nodes().keys().map(String::as_str).collect();
    let mut successors: HashMap<&str, Vec<&str>> = HashMap::new();
    for edge in edges {
        successors
            .entry(edge.from.as_str())
            .or_default()
            .push(edge.to.as_str());
    }
    // Depth-first from the triggers, then from any node not reached yet; an edge to a node
    // on the current path closes a loop and is left out of the layering.
    let roots: Vec<&str> = playbook
        .triggers()
        .map(|n| n.id.as_str())
        .chain(ids.iter().copied())
        .collect();
    let mut visited: HashSet<&str> = HashSet::new();
    let mut back: HashSet<(&str, &str)> = HashSet::new();
    let mut order: Vec<&str> = Vec::new();
    for root in roots {
        if !visited.insert(root) {
            continue;
        }
        let mut on_path: HashSet<&str> = HashSet::from([root]);
        let mut stack: Vec<(&str, usize)> = vec![(root, 0)];
        order.push(root);
        while let Some((node, next)) = stack.last().copied() {
            let children = successors.get(node).map_or(&[][..], Vec::as_slice);
            if let Some(&child) = children.get(next) {
                if let Some(top) = stack.last_mut() {
                    top.1 += 1;
                }
                if on_path.contains(child) {
                    back.insert((node, child));
                } else if visited.insert(child) {
                    on_path.insert(child);
                    order.push(child);
                    stack.push((child, 0));
                }
            } else {
                on_path.remove(node);
                stack.pop();
            }
        }
    }
    // Longest path over the remaining edges, which form no cycle.
    let forward: Vec<(&str, &str)> = edges
        .iter()
        .map(|e| (e.from.as_str(), e.to.as_str()))
        .filter(|(from, to)| from != to && !back.contains(&(*from, *to)))
        .collect();
    let mut indegree: HashMap<&str, usize> = ids.iter().map(|id| (*id, 0)).collect();
    for (_, to) in &forward {
        if let Some(d) = indegree.get_mut(to) {
            *d += 1;
        }
    }
    let mut layer: HashMap<&str, usize> = ids.iter().map(|id| (*id, 0)).collect();
    let mut ready: Vec<&str> = order
        .iter()
        .copied()
        .filter(|id| indegree.get(id) == Some(&0))
        .collect();
    ready.reverse();
    while let Some(node) = ready.pop() {
        let here = layer.get(node).copied().unwrap_or(0);
        for (_, to) in forward.iter().filter(|(from, _)| *from == node) {
            if let Some(l) = layer.get_mut(to) {
                *l = (*l).max(here + 1);
            }
            if let Some(d) = indegree.get_mut(to) {
                *d = d.saturating_sub(1);
                if *d == 0 {
                    ready.push(to);
                }
            }
        }
    }
    // Rows: walk order first, then each layer sorted by where its predecessors sit.
    let mut layers: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for id in &order {
        layers
            .entry(layer.get(id).copied().unwrap_or(0))
            .or_default()
            .push(id);
    }
    let mut row: HashMap<&str, usize> = HashMap::new();
    for nodes in layers.values_mut() {
        let weight = |id: &str| -> Option<f64> {
            let rows: Vec<usize> = forward
                .iter()
                .filter(|(_, to)| *to == id)
                .filter_map(|(from, _)| row.get(from).copied())
                .collect();
            (!rows.is_empty()).then(|| rows.iter().sum::<usize>() as f64 / rows.len() as f64)
        };
        let mut keyed: Vec<(f64, usize, &str)> = nodes
            .iter()
            .enumerate()
            .map(|(i, id)| (weight(id).unwrap_or(i as f64), i, *id))
            .collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        *nodes = keyed.into_iter().map(|(_, _, id)| id).collect();
        for (i, id) in nodes.iter().enumerate() {
            row.insert(id, i);
        }
    }
    layers
        .iter()
        .flat_map(|(l, nodes)| {
            nodes
                .iter()
                .enumerate()
                .map(move |(r, id)| ((*id).to_owned(), Place { layer: *l, row: r }))
        })
        .collect()
}

/// How the graph shows one node and the edges out of it.
pub trait GraphState {
    /// The node's `data-status`.
    fn status(&self, node_id: &str) -> String;
    /// Whether the run went along this edge.
    fn taken(&self, _edge: &Edge) -> bool {
        false
    }
}

/// The `<svg id="graph">` of the playbook.
pub fn svg(playbook: &Playbook, state: &dyn GraphState) -> String {
    let edges = edges(playbook);
    let places = layout(playbook, &edges);
    let layers = places.values().map(|p| p.layer + 1).max().unwrap_or(1);
    let mut rows_in: HashMap<usize, usize> = HashMap::new();
    for place in places.values() {
        let rows = rows_in.entry(place.layer).or_default();
        *rows = (*rows).max(place.row + 1);
    }
    let max_rows = rows_in.values().copied().max().unwrap_or(1);
    let position = |id: &str| -> Option<(i64, i64)> {
        let place = places.get(id)?;
        let rows = rows_in.get(&place.layer).copied().unwrap_or(1);
        let offset = (max_rows - rows) as i64 * (NODE_H + GAP_Y) / 2;
        Some((
            MARGIN + place.layer as i64 * (NODE_W + GAP_X),
            MARGIN + offset + place.row as i64 * (NODE_H + GAP_Y),
        ))
    };
    let width = 2 * MARGIN + layers as i64 * NODE_W + (layers as i64 - 1) * GAP_X;
    let height = 2 * MARGIN + max_rows as i64 * NODE_H + (max_rows as i64 - 1) * GAP_Y + 40;

    let mut out = String::new();
    let _ = write!(
        out,
        "<svg id=\"graph\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" \
         height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         aria-label=\"{}\">",
        esc(&format!("graph of {}", playbook.name()))
    );
    out.push_str(
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
         markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">\
         <path class=\"arrowhead\" d=\"M 0 0 L 10 5 L 0 10 z\"/></marker></defs>",
    );
    out.push_str("<g class=\"edges\">");
    // One path per pair of nodes, labelled with every output that links them.
    let mut pairs: Vec<(&Edge, Vec<&str>, bool)> = Vec::new();
    for edge in &edges {
        let taken = state.taken(edge);
        match pairs
            .iter_mut()
            .find(|(e, _, _)| e.from == edge.from && e.to == edge.to)
        {
            Some((_, outputs, was_taken)) => {
                outputs.push(&edge.output);
                *was_taken |= taken;
            }
            None => pairs.push((edge, vec![&edge.output], taken)),
        }
    }
    for (edge, outputs, taken) in pairs {
        let (Some((x1, y1)), Some((x2, y2))) = (position(&edge.from), position(&edge.to)) else {
            continue;
        };
        let (x1, y1) = (x1 + NODE_W, y1 + NODE_H / 2);
        let y2 = y2 + NODE_H / 2;
        let d = if x2 > x1 {
            let bend = ((x2 - x1) / 2).max(30);
            format!(
                "M {x1} {y1} C {} {y1}, {} {y2}, {x2} {y2}",
                x1 + bend,
                x2 - bend
            )
        } else {
            // Back to an earlier column: loop below both nodes.
            let low = y1.max(y2) + NODE_H / 2 + 24;
            format!(
                "M {x1} {y1} C {} {low}, {} {low}, {x2} {y2}",
                x1 + 60,
                x2 - 60
            )
        };
        let class = if taken { "edge taken" } else { "edge" };
        let _ = write!(
            out,
            "<path class=\"{class}\" data-from=\"{}\" data-to=\"{}\" data-output=\"{}\" \
             d=\"{d}\" marker-end=\"url(#arrow)\"/>",
            esc(&edge.from),
            esc(&edge.to),
            esc(&outputs.join(" ")),
        );
        let named: Vec<&str> = outputs.into_iter().filter(|o| *o != "default").collect();
        if !named.is_empty() {
            let _ = write!(
                out,
                "<text class=\"edge-label\" x=\"{}\" y=\"{}\">{}</text>",
                (x1 + x2) / 2,
                (y1 + y2) / 2 - 6,
                esc(&truncate(&named.join(", "), 18)),
            );
        }
    }
    out.push_str("</g><g class=\"nodes\">");
    for node in playbook.nodes().values() {
        let Some((x, y)) = position(&node.id) else {
            continue;
        };
        let (kind, label) = kind(node);
        let shape = match kind {
            "trigger" => format!(
                "<rect class=\"body\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"{}\"/>",
                NODE_H / 2
            ),
            "operator" => format!(
                "<polygon class=\"body\" points=\"14,0 {} 0 {NODE_W},{} {},{NODE_H} 14,{NODE_H} \
                 0,{}\"/>",
                NODE_W - 14,
                NODE_H / 2,
                NODE_W - 14,
                NODE_H / 2
            ),
            _ => format!(
                "<rect class=\"body\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"5\"/>\
                 <rect class=\"stripe\" width=\"6\" height=\"{NODE_H}\"/>"
            ),
        };
        let status = state.status(&node.id);
        let _ = write!(
            out,
            "<g class=\"node\" data-node-id=\"{id}\" data-status=\"{status}\" \
             data-kind=\"{kind}\" transform=\"translate({x} {y})\" tabindex=\"0\" \
             role=\"button\" aria-label=\"{aria}\"><title>{title}</title>{shape}\
             <text class=\"kind\" x=\"22\" y=\"20\">{label} · {id}</text>\
             <text class=\"label\" x=\"22\" y=\"40\">{name}</text></g>",
            id = esc(&node.id),
            status = esc(&status),
            aria = esc(&format!("{} ({label}, {status})", node.name)),
            title = esc(&format!("{} — {label}, {status}", node.name)),
            name = esc(&truncate(&node.name, LABEL_CHARS)),
        );
    }
    out.push_str("</g></svg>");
    out
}

/// At most `max` characters of `text`, with `…` when cut.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn playbook(json: &str) -> Playbook {
        alertsync_spl::parse_playbook(json, "test").expect("playbook")
    }

    struct Idle;

    impl GraphState for Idle {
        fn status(&self, _: &str) -> String {
            "idle".to_owned()
        }
    }

    const LOOP: &str = r#"{"name": "loop", "uuid": "u", "nodes": {
        "1": {"name": "start", "type": "trigger", "outputs": {"default": ["2"]},
              "module_uuid": "m", "trigger_uuid": "t"},
        "2": {"name": "each", "type": "operator", "subtype": "foreach", "items": "[1,2]",
              "loop": "3", "outputs": {"default": ["4"]}},
        "3": {"name": "body", "type": "action", "outputs": {"default": ["2"]},
              "module_uuid": "m", "action_uuid": "a"},
        "4": {"name": "after", "type": "action", "outputs": {"default": []},
              "module_uuid": "m", "action_uuid": "a"},
        "5": {"name": "alone", "type": "action", "outputs": {}, "module_uuid": "m",
              "action_uuid": "a"}
    }}"#;

    #[test]
    fn layers_follow_the_longest_path_and_loops_end() {
        let playbook = playbook(LOOP);
        let edges = edges(&playbook);
        assert!(
            edges
                .iter()
                .any(|e| e.from == "2" && e.to == "3" && e.output == "loop")
        );
        let places = layout(&playbook, &edges);
        let layer = |id: &str| places.get(id).map(|p| p.layer);
        assert_eq!(layer("1"), Some(0));
        assert_eq!(layer("2"), Some(1));
        assert_eq!(layer("3"), Some(2));
        assert_eq!(layer("4"), Some(2));
        assert_eq!(layer("5"), Some(0), "unreached nodes still get a place");
    }

    #[test]
    fn every_node_is_drawn_once_with_its_status() {
        let playbook = playbook(LOOP);
        let svg = svg(&playbook, &Idle);
        assert!(svg.starts_with("<svg id=\"graph\""));
        for id in ["1", "2", "3", "4", "5"] {
            let needle = format!("data-node-id=\"{id}\" data-status=\"idle\"");
            assert_eq!(svg.matches(&needle).count(), 1, "{id}: {svg}");
        }
        assert_eq!(svg.matches("<g class=\"node\"").count(), 5);
        assert!(svg.contains("marker-end=\"url(#arrow)\""));
    }

    #[test]
    fn names_are_escaped_and_cut() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("a much longer name", 8), "a much …");
        let json = LOOP.replace("\"start\"", "\"<script>x</script>\"");
        let svg = svg(&playbook(&json), &Idle);
        assert!(!svg.contains("<script>"));
    }
}
