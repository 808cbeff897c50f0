//! The images a Dockerfile pulls: every `FROM`, `COPY --from=` (and `ADD --from=`) and
//! `RUN --mount=from=` that names an image rather than a stage, with the words expanded as
//! BuildKit expands them. `plan` finds in-repo parents in them, `lint` checks them and
//! `inputs` digests the external ones.

use std::collections::BTreeMap;

use super::{Dockerfile, Instruction};

/// Where a reference sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    From,
    /// `COPY --from=` or `ADD --from=`.
    CopyFrom,
    /// `RUN --mount=from=`.
    MountFrom,
}

impl RefKind {
    /// How the reference is written, for messages: `FROM`, `COPY --from`, `RUN --mount=from`.
    pub fn describe(self, keyword: &str) -> String {
        match self {
            RefKind::From => "FROM".to_string(),
            RefKind::CopyFrom => format!("{keyword} --from"),
            RefKind::MountFrom => "RUN --mount=from".to_string(),
        }
    }
}

/// What a reference resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A stage of this file, by index.
    Stage(usize),
    Scratch,
    /// It expands to nothing.
    Empty,
    /// An image, as expanded: `debian:12`, `localhost:5000/acme/base:main`.
    Image(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// 1-based line of the instruction.
    pub line: usize,
    pub kind: RefKind,
    /// `COPY`, `ADD`, `RUN` or `FROM`.
    pub keyword: String,
    /// The stage the instruction is in.
    pub stage: usize,
    /// As written: `${BASE_IMAGE}`, `composer:2`.
    pub written: String,
    pub target: Target,
    /// Every variable it names is set.
    pub complete: bool,
}

/// The `from=` of each `--mount` of a RUN, as written.
pub fn mount_sources(instruction: &Instruction) -> Vec<String> {
    instruction
        .flags
        .iter()
        .filter(|f| f.name == "mount")
        .filter_map(|f| {
            f.value
                .as_deref()?
                .split(',')
                .find_map(|o| o.strip_prefix("from=").map(|v| v.trim_matches('"').to_string()))
        })
        .collect()
}

/// Every reference of `doc` to an image or stage, in file order. FROM expands with the global
/// ARGs; `--from` and `--mount=from=` with the stage's ARGs and ENVs too. `build_args` win over
/// ARG defaults.
pub fn image_refs(doc: &Dockerfile, build_args: &BTreeMap<String, String>) -> Vec<ImageRef> {
    let globals = doc.global_arg_values(build_args);
    let stages = doc.stages();
    // Names, lower-cased as BuildKit compares them, to the latest stage of each.
    let mut all_names: BTreeMap<String, usize> = BTreeMap::new();
    for (index, stage) in stages.iter().enumerate() {
        if let Some(name) = stage.name() {
            all_names.entry(name).or_insert(index);
        }
    }
    let classify = |text: String, earlier: &BTreeMap<String, usize>, allow_index: bool| {
        let lower = text.to_ascii_lowercase();
        if text.is_empty() {
            Target::Empty
        } else if lower == "scratch" {
            Target::Scratch
        } else if let Some(&index) = earlier.get(&lower) {
            Target::Stage(index)
        } else if let (true, Ok(index)) = (allow_index, lower.parse::<usize>()) {
            Target::Stage(index)
        } else {
            Target::Image(text)
        }
    };
    let mut out = Vec::new();
    let mut earlier: BTreeMap<String, usize> = BTreeMap::new();
    for (index, stage) in stages.iter().enumerate() {
        let written = stage.image();
        if !written.is_empty() {
            let expanded = stage.from.expand(&written, |n| globals.get(n).cloned().flatten());
            let complete = expanded.unset.is_empty();
            let target = classify(expanded.text, &earlier, false);
            out.push(ImageRef {
                line: stage.from.line,
                kind: RefKind::From,
                keyword: "FROM".to_string(),
                stage: index,
                written,
                target,
                complete,
            });
        }
        if let Some(name) = stage.name() {
            earlier.insert(name, index);
        }
        // A `--from` may name any stage of the file.
        let mut names = all_names.clone();
        names.extend(earlier.iter().map(|(k, v)| (k.clone(), *v)));
        let mut vars: BTreeMap<String, Option<String>> = BTreeMap::new();
        for instruction in stage.body {
            let written: Vec<(RefKind, String)> = match instruction.keyword.as_str() {
                "COPY" | "ADD" => {
                    instruction.flag("from").map(|f| (RefKind::CopyFrom, f.to_string())).into_iter().collect()
                }
                "RUN" => mount_sources(instruction).into_iter().map(|m| (RefKind::MountFrom, m)).collect(),
                _ => Vec::new(),
            };
            for (kind, written) in written {
                let expanded = instruction.expand(&written, |n| vars.get(n).cloned().flatten());
                out.push(ImageRef {
                    line: instruction.line,
                    kind,
                    keyword: instruction.keyword.clone(),
                    stage: index,
                    written,
                    complete: expanded.unset.is_empty(),
                    target: classify(expanded.text, &names, true),
                });
            }
            if matches!(instruction.keyword.as_str(), "ARG" | "ENV") {
                for (name, value) in instruction.raw_assignments() {
                    let value = match (instruction.keyword.as_str(), build_args.get(&name)) {
                        ("ARG", Some(given)) => Some(given.clone()),
                        ("ARG", None) if value.is_none() => globals.get(&name).cloned().flatten(),
                        _ => value.map(|v| instruction.expand(&v, |n| vars.get(n).cloned().flatten()).text),
                    };
                    vars.insert(name, value);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(text: &str, args: &[(&str, &str)]) -> Vec<(usize, RefKind, Target)> {
        let args = args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        image_refs(&super::super::parse(text), &args).into_iter().map(|r| (r.line, r.kind, r.target)).collect()
    }

    #[test]
    fn stages_images_and_mounts() {
        let text = "ARG BASE=debian:12\nFROM ${BASE} AS build\nCOPY --from=composer:2 /usr/bin/composer /c\nRUN --mount=type=bind,from=node:20,source=/x,target=/y true\nFROM scratch\nCOPY --from=build /a /a\nCOPY --from=0 /b /b\nCOPY --from=later /c /c\nFROM build AS later\n";
        let image = |s: &str| Target::Image(s.to_string());
        assert_eq!(
            targets(text, &[]),
            [
                (2, RefKind::From, image("debian:12")),
                (3, RefKind::CopyFrom, image("composer:2")),
                (4, RefKind::MountFrom, image("node:20")),
                (5, RefKind::From, Target::Scratch),
                (6, RefKind::CopyFrom, Target::Stage(0)),
                (7, RefKind::CopyFrom, Target::Stage(0)),
                (8, RefKind::CopyFrom, Target::Stage(2)),
                (9, RefKind::From, Target::Stage(0)),
            ]
        );
        assert_eq!(targets(text, &[("BASE", "r.test/a/b:1")])[0].2, image("r.test/a/b:1"), "build args win");
    }

    #[test]
    fn from_flags_expand_with_the_stage_args() {
        let text = "ARG TOOLS=busybox:1.36\nFROM scratch\nARG TOOLS\nARG PHP=php:8.3\nCOPY --from=${TOOLS} /bin/sh /sh\nCOPY --from=$PHP /x /x\nRUN --mount=from=${NOPE} true\n";
        assert_eq!(
            targets(text, &[]),
            [
                (2, RefKind::From, Target::Scratch),
                (5, RefKind::CopyFrom, Target::Image("busybox:1.36".into())),
                (6, RefKind::CopyFrom, Target::Image("php:8.3".into())),
                (7, RefKind::MountFrom, Target::Empty),
            ]
        );
    }
}
