//! The small YAML the workflow is written in: a tree of maps, lists, scalars and block
//! scripts, and a writer that quotes and indents it the way YAML reads it back.

/// A YAML node of the workflow.
#[derive(Debug, Clone)]
pub enum Yaml {
    /// A scalar, quoted when YAML would otherwise read it as something else.
    Str(String),
    /// Written as it is: `true`, `false`, `1`.
    Lit(&'static str),
    /// A node with `# comment` at the end of its first line (after `|` for a block).
    Commented(Box<Yaml>, &'static str),
    /// A literal block scalar (`|`): shell scripts.
    Block(String),
    Map(Vec<(String, Yaml)>),
    /// A map with a blank line between entries: the top level and the jobs.
    Spaced(Vec<(String, Yaml)>),
    List(Vec<Yaml>),
}

pub fn s(text: impl Into<String>) -> Yaml {
    Yaml::Str(text.into())
}

pub fn map(entries: Vec<(&str, Yaml)>) -> Yaml {
    Yaml::Map(owned(entries))
}

pub fn owned(entries: Vec<(&str, Yaml)>) -> Vec<(String, Yaml)> {
    entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

pub fn commented(node: Yaml, comment: &'static str) -> Yaml {
    Yaml::Commented(Box::new(node), comment)
}

pub fn write_entries(out: &mut String, entries: &[(String, Yaml)], indent: usize, spaced: bool) {
    for (i, (key, value)) in entries.iter().enumerate() {
        if spaced && i > 0 {
            out.push('\n');
        }
        // Keys are this module's own identifiers, written as GitHub documents them (`on:`).
        out.push_str(&" ".repeat(indent));
        out.push_str(key);
        out.push(':');
        write_value(out, value, indent);
    }
}

/// Everything after `key:`, up to and including the end of the value.
fn write_value(out: &mut String, value: &Yaml, indent: usize) {
    match value {
        Yaml::Str(text) => out.push_str(&format!(" {}\n", scalar(text))),
        Yaml::Lit(text) => out.push_str(&format!(" {text}\n")),
        Yaml::Commented(node, comment) => {
            let mut text = String::new();
            write_value(&mut text, node, indent);
            let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
            out.push_str(&format!("{first} # {comment}\n{rest}"));
        }
        Yaml::Block(text) => {
            out.push_str(" |\n");
            for line in text.lines() {
                if !line.is_empty() {
                    out.push_str(&" ".repeat(indent + 2));
                    out.push_str(line);
                }
                out.push('\n');
            }
        }
        Yaml::Map(entries) | Yaml::Spaced(entries) if entries.is_empty() => out.push_str(" {}\n"),
        Yaml::Map(entries) => {
            out.push('\n');
            write_entries(out, entries, indent + 2, false);
        }
        Yaml::Spaced(entries) => {
            out.push('\n');
            write_entries(out, entries, indent + 2, true);
        }
        Yaml::List(items) => {
            out.push('\n');
            for item in items {
                // An item is written as the value of a key at the item's depth, then the key
                // becomes the `- ` marker.
                let mut text = String::new();
                match item {
                    Yaml::Map(entries) | Yaml::Spaced(entries) if !entries.is_empty() => {
                        write_entries(&mut text, entries, indent + 4, false);
                    }
                    other => {
                        text.push_str(&" ".repeat(indent + 3));
                        write_value(&mut text, other, indent + 2);
                    }
                }
                out.push_str(&" ".repeat(indent + 2));
                out.push_str("- ");
                out.push_str(&text[indent + 4..]);
            }
        }
    }
}

/// `text` as a plain scalar when YAML reads it back as that same string, else double-quoted
/// (a JSON string is a valid YAML one).
fn scalar(text: &str) -> String {
    const RESERVED: [&str; 11] = ["true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", ""];
    let plain = !RESERVED.contains(&text.to_ascii_lowercase().as_str())
        && !text.starts_with(|c: char| c.is_ascii_digit() || c.is_whitespace() || "-?:,[]{}#&*!|>'\"%@`.+".contains(c))
        && !text.ends_with(|c: char| c.is_whitespace() || c == ':')
        && !text.contains(": ")
        && !text.contains(" #")
        && !text.chars().any(char::is_control);
    if plain {
        text.to_string()
    } else {
        serde_json::to_string(text).expect("a string serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_quoted_only_where_yaml_would_misread_them() {
        for plain in [
            "images",
            "${{ matrix.unit }}",
            "v*.*.*",
            "digests-*",
            "ubuntu-24.04-arm",
            "github.event_name != 'pull_request'",
        ] {
            assert_eq!(scalar(plain), plain);
        }
        assert_eq!(scalar(""), "\"\"");
        assert_eq!(scalar("true"), "\"true\"");
        assert_eq!(scalar("No"), "\"No\"");
        assert_eq!(scalar("24.04"), "\"24.04\"");
        assert_eq!(scalar("--tag"), "\"--tag\"");
        assert_eq!(scalar("a: b"), "\"a: b\"");
        assert_eq!(scalar("a #b"), "\"a #b\"");
        assert_eq!(scalar("'x'"), "\"'x'\"");
        assert_eq!(scalar("line\nbreak"), "\"line\\nbreak\"");
        assert_eq!(scalar("on"), "\"on\"");
    }

    #[test]
    fn the_writer_nests_maps_lists_and_blocks() {
        let mut out = String::new();
        let tree = owned(vec![
            ("a", map(vec![("b", Yaml::Lit("1")), ("c", map(vec![]))])),
            (
                "steps",
                Yaml::List(vec![
                    map(vec![("name", s("x")), ("with", map(vec![("k", s("v"))]))]),
                    s("plain"),
                    map(vec![("run", Yaml::Block("one\n\n  two\n".into()))]),
                ]),
            ),
            ("uses", commented(s("o/r@abc"), "v1")),
            ("run", commented(Yaml::Block("x\n".into()), "why")),
        ]);
        write_entries(&mut out, &tree, 0, true);
        assert_eq!(
            out,
            "a:\n  b: 1\n  c: {}\n\nsteps:\n  - name: x\n    with:\n      k: v\n  - plain\n  - run: |\n      one\n\n        two\n\
             \nuses: o/r@abc # v1\n\nrun: | # why\n  x\n"
        );
    }
}
