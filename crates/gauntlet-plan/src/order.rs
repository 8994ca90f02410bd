//! Which service starts (and stops) before which.

use std::collections::BTreeSet;

use crate::{Plan, Service};

/// `names` and everything they depend on (transitively), dependencies
/// first; ties keep the plan's service order. (The plan was checked
/// acyclic at load.) Names that are not services are left out.
pub fn dependency_order(plan: &Plan, names: &[String]) -> Vec<String> {
    order_services(&plan.services, names)
}

/// The reverse: for stopping (dependents first) — `names` plus nothing
/// else, ordered so a service stops before those it depends on, also
/// through services that are not in `names`.
pub fn stop_order(plan: &Plan, names: &[String]) -> Vec<String> {
    let wanted: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let mut order: Vec<String> = dependency_order(plan, names)
        .into_iter()
        .filter(|n| wanted.contains(n.as_str()))
        .collect();
    order.reverse();
    order
}

/// The closure of `names` under `depends_on`, as a stable topological
/// sort: at every step the earliest service in the plan whose
/// dependencies have all been placed goes next. That keeps the plan's
/// order wherever dependencies allow, which is what a reader of the plan
/// expects to see start. A dependency cycle (only in a hand-built plan)
/// cannot deadlock it: the rest is appended in plan order.
pub(crate) fn order_services(services: &[Service], names: &[String]) -> Vec<String> {
    let index_of = |name: &str| services.iter().position(|s| s.name == name);

    // Everything needed, by plan index.
    let mut needed = vec![false; services.len()];
    let mut stack: Vec<usize> = names.iter().filter_map(|n| index_of(n)).collect();
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut needed[i], true) {
            continue;
        }
        stack.extend(services[i].depends_on.iter().filter_map(|d| index_of(d)));
    }

    let mut placed = vec![false; services.len()];
    let mut order = Vec::new();
    loop {
        let ready = (0..services.len()).find(|&i| {
            needed[i]
                && !placed[i]
                && services[i]
                    .depends_on
                    .iter()
                    .filter_map(|d| index_of(d))
                    .all(|d| placed[d])
        });
        let Some(i) = ready.or_else(|| (0..services.len()).find(|&i| needed[i] && !placed[i]))
        else {
            break;
        };
        placed[i] = true;
        order.push(services[i].name.clone());
    }
    order
}

/// The first `depends_on` cycle, as the path of names that closes it
/// (`["api", "worker", "api"]`), and the index of the dependency entry
/// that closes it in the last service's `depends_on`.
pub(crate) fn find_cycle(services: &[Service]) -> Option<(Vec<String>, usize)> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let index_of = |name: &str| services.iter().position(|s| s.name == name);
    let mut marks = vec![Mark::New; services.len()];

    for root in 0..services.len() {
        if marks[root] != Mark::New {
            continue;
        }
        // Iterative DFS: (service, next dependency to look at).
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        marks[root] = Mark::OnPath;
        while let Some(top) = path.last_mut() {
            let (node, entry) = *top;
            let deps = &services[node].depends_on;
            if entry == deps.len() {
                marks[node] = Mark::Done;
                path.pop();
                continue;
            }
            top.1 += 1;
            let Some(dep) = index_of(&deps[entry]) else {
                continue;
            };
            match marks[dep] {
                Mark::Done => {}
                Mark::New => {
                    marks[dep] = Mark::OnPath;
                    path.push((dep, 0));
                }
                Mark::OnPath => {
                    let start = path.iter().position(|&(n, _)| n == dep).unwrap_or(0);
                    let mut names: Vec<String> = path[start..]
                        .iter()
                        .map(|&(n, _)| services[n].name.clone())
                        .collect();
                    names.push(services[dep].name.clone());
                    return Some((names, entry));
                }
            }
        }
    }
    None
}
