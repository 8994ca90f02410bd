//! The fleet loop's interview on a TTY (`gauntlet start`): what the
//! arguments did not say is asked with a menu, and the plan is always
//! confirmed (proceed, modify, cancel). Only ever called on a terminal;
//! without one, missing answers are an error naming the flags.

use anyhow::Result;
use dialoguer::Select;
use dialoguer::theme::ColorfulTheme;
use gauntlet_plan::{Criteria, Fleet, Proof};

use crate::cmd_loop::Answers;
use crate::exit::Failure;

/// A menu; Esc or `q` is a cancel, said as an error (nothing started).
fn choose(prompt: &str, items: &[String], default: usize) -> Result<usize> {
    Select::with_theme(&ColorfulTheme::default())
        .with_prompt(prompt)
        .items(items)
        .default(default)
        .interact_opt()?
        .ok_or_else(|| Failure::bad_args("cancelled: nothing was started"))
}

/// Asks what is missing.
pub fn ask(fleet: &Fleet, answers: &mut Answers) -> Result<()> {
    if answers.project.is_none() {
        let names: Vec<String> = fleet.projects.iter().map(|p| p.name.clone()).collect();
        if names.is_empty() {
            return Err(Failure::bad_args(format!(
                "{} has no [[project]]",
                fleet.path.display()
            )));
        }
        let i = choose("project", &names, 0)?;
        answers.project = Some(names[i].clone());
    }
    if answers.focus.is_none() {
        let Some(project) = answers.project.as_deref().and_then(|p| fleet.project(p)) else {
            return Ok(());
        };
        let focuses = project.focuses();
        let described: Vec<String> = focuses
            .iter()
            .map(|f| {
                let suites: Vec<&str> = project.suites_of(f).iter().map(|s| s.name()).collect();
                format!("{f}  ({})", suites.join(", "))
            })
            .collect();
        let i = choose("focus", &described, 0)?;
        answers.focus = Some(focuses[i].clone());
    }
    if answers.criteria.is_none() {
        let items: Vec<String> = Criteria::ALL
            .iter()
            .map(|c| {
                format!(
                    "{}  ({})",
                    c.word(),
                    match c {
                        Criteria::AllPass => "every suite passes on every node",
                        Criteria::Threshold => "each figure within its min/max",
                        Criteria::Improvement =>
                            "all pass, no figure worse than the last green test",
                        Criteria::Check => "the project's check program decides",
                    }
                )
            })
            .collect();
        let i = choose("success criteria", &items, 0)?;
        answers.criteria = Some(Criteria::ALL[i]);
    }
    if answers.proof.is_none() {
        let items: Vec<String> = Proof::ALL
            .iter()
            .map(|p| {
                format!(
                    "{}  ({})",
                    p.word(),
                    match p {
                        Proof::Summary => "PROOF.md, proof.json and the reports",
                        Proof::Logs => "and every node's service log",
                        Proof::AllEvidence => "and every suite's output and phase log",
                    }
                )
            })
            .collect();
        let i = choose("proof", &items, 1)?;
        answers.proof = Some(Proof::ALL[i]);
    }
    Ok(())
}

/// The answer to the plan's summary.
pub enum Confirmed {
    Proceed,
    Modify,
    Cancel,
}

pub fn confirm(summary: &str) -> Result<Confirmed> {
    crate::out::note!("{summary}");
    let items = [
        "proceed".to_owned(),
        "modify".to_owned(),
        "cancel".to_owned(),
    ];
    Ok(
        match Select::with_theme(&ColorfulTheme::default())
            .with_prompt("start this loop?")
            .items(&items)
            .default(0)
            .interact_opt()?
        {
            Some(0) => Confirmed::Proceed,
            Some(1) => Confirmed::Modify,
            _ => Confirmed::Cancel,
        },
    )
}

/// Asks every answer again, each pre-selected as it was.
pub fn modify(fleet: &Fleet, answers: Answers) -> Result<Answers> {
    let mut fresh = Answers::default();
    let names: Vec<String> = fleet.projects.iter().map(|p| p.name.clone()).collect();
    let at = |list: &[String], v: &Option<String>| {
        v.as_ref()
            .and_then(|v| list.iter().position(|x| x == v))
            .unwrap_or(0)
    };
    let i = choose("project", &names, at(&names, &answers.project))?;
    fresh.project = Some(names[i].clone());
    if let Some(project) = fleet.project(&names[i]) {
        let focuses = project.focuses();
        let i = choose("focus", &focuses, at(&focuses, &answers.focus))?;
        fresh.focus = Some(focuses[i].clone());
    }
    let words: Vec<String> = Criteria::ALL.iter().map(|c| c.word().to_owned()).collect();
    let was = answers.criteria.map(|c| c.word().to_owned());
    fresh.criteria = Some(Criteria::ALL[choose("success criteria", &words, at(&words, &was))?]);
    let words: Vec<String> = Proof::ALL.iter().map(|p| p.word().to_owned()).collect();
    let was = answers.proof.map(|p| p.word().to_owned());
    fresh.proof = Some(Proof::ALL[choose("proof", &words, at(&words, &was))?]);
    Ok(fresh)
}
