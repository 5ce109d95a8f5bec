//! `alertsync validate --summary`: what a folder of exported playbooks needs before it can
//! move to alertsync — per playbook whether it runs, needs modules alertsync lacks (on a path
//! a trigger can take), or is broken and why; then the totals and the needed modules, most
//! wanted first.

use serde::Serialize;

use alertsync_spl::Playbook;

use super::validate::{FileReport, reachable_needs};

/// What can be done with one playbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Verdict {
    /// Everything its triggers reach is implemented.
    Runs,
    /// A trigger reaches a module, action or trigger alertsync does not implement.
    Needs,
    /// The file has errors (or is not a playbook).
    Broken,
}

/// One playbook's line.
#[derive(Serialize)]
struct Line {
    file: String,
    verdict: Verdict,
    /// What it needs, `name (uuid)` (the kind first for actions and triggers).
    needs: Vec<String>,
    /// The first error, for a broken file.
    problem: Option<String>,
}

/// The summary of a set of playbooks.
#[derive(Serialize)]
pub(super) struct Summary {
    playbooks: Vec<Line>,
    totals: Totals,
    /// Each needed module, action or trigger with the number of playbooks needing it.
    needed: Vec<(String, usize)>,
}

#[derive(Serialize)]
struct Totals {
    playbooks: usize,
    load: usize,
    run: usize,
    need: usize,
    broken: usize,
}

impl Summary {
    pub(super) fn of(validated: &[(FileReport, Option<Playbook>)]) -> Self {
        let playbooks: Vec<Line> = validated
            .iter()
            .map(|(report, playbook)| line(report, playbook.as_ref()))
            .collect();
        let count = |verdict| playbooks.iter().filter(|l| l.verdict == verdict).count();
        let totals = Totals {
            playbooks: playbooks.len(),
            load: validated.iter().filter(|(_, p)| p.is_some()).count(),
            run: count(Verdict::Runs),
            need: count(Verdict::Needs),
            broken: count(Verdict::Broken),
        };
        let mut needed: Vec<(String, usize)> = Vec::new();
        for need in playbooks.iter().flat_map(|l| &l.needs) {
            match needed.iter_mut().find(|(known, _)| known == need) {
                Some((_, n)) => *n += 1,
                None => needed.push((need.clone(), 1)),
            }
        }
        needed.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Self {
            playbooks,
            totals,
            needed,
        }
    }

    pub(super) fn text(&self) -> String {
        let width = self
            .playbooks
            .iter()
            .map(|l| l.file.chars().count())
            .max()
            .unwrap_or(8)
            .max(8);
        let mut out = format!("{:<width$}  {:<6}  what\n", "playbook", "verdict");
        for line in &self.playbooks {
            let what = match line.verdict {
                Verdict::Runs => String::new(),
                Verdict::Needs => format!("needs {}", line.needs.join(", ")),
                Verdict::Broken => line.problem.clone().unwrap_or_default(),
            };
            let verdict = match line.verdict {
                Verdict::Runs => "runs",
                Verdict::Needs => "needs",
                Verdict::Broken => "broken",
            };
            out.push_str(&format!("{:<width$}  {verdict:<6}  {what}\n", line.file));
        }
        let t = &self.totals;
        out.push_str(&format!(
            "\n{} playbooks: {} load, {} run, {} need what alertsync lacks, {} broken\n",
            t.playbooks, t.load, t.run, t.need, t.broken
        ));
        if !self.needed.is_empty() {
            out.push_str("needed, by how many playbooks:\n");
            for (need, count) in &self.needed {
                out.push_str(&format!("  {count:>3}  {need}\n"));
            }
        }
        out
    }
}

fn line(report: &FileReport, playbook: Option<&Playbook>) -> Line {
    let problem = report.report.errors.first().map(|p| {
        let node = p
            .node_id
            .as_deref()
            .map(|id| format!("node {id}: "))
            .unwrap_or_default();
        format!("{node}{}", p.message)
    });
    let needs: Vec<String> = match playbook {
        Some(playbook) => reachable_needs(playbook, &report.report)
            .into_iter()
            .map(|need| {
                let name = need.name.as_deref().unwrap_or("(unknown to alertsync)");
                match need.kind {
                    "module" => format!("{name} ({})", need.uuid),
                    kind => format!("{kind} {name} ({})", need.uuid),
                }
            })
            .collect(),
        None => Vec::new(),
    };
    let verdict = if problem.is_some() {
        Verdict::Broken
    } else if needs.is_empty() {
        Verdict::Runs
    } else {
        Verdict::Needs
    };
    Line {
        file: report.file.clone(),
        verdict,
        needs,
        problem,
    }
}
