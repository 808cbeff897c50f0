//! Reads a workflow file back: the block-style YAML subset that `yaml::write_entries` writes
//! (maps, `- ` lists, plain and double-quoted scalars, `|` blocks, `{}`, comments), so that the
//! rehearsal runs the file as committed rather than a second description of the pipeline.
//! Anything outside the subset is an error naming its line, never a guess.

/// A node of a workflow file as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Scalar(String),
    Map(Vec<(String, Node)>),
    List(Vec<Node>),
}

impl Node {
    /// The value under `key` of a map.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn str(&self) -> Option<&str> {
        match self {
            Node::Scalar(text) => Some(text),
            _ => None,
        }
    }

    pub fn entries(&self) -> &[(String, Node)] {
        match self {
            Node::Map(entries) => entries,
            _ => &[],
        }
    }

    pub fn items(&self) -> &[Node] {
        match self {
            Node::List(items) => items,
            _ => &[],
        }
    }
}

/// One line that carries content: its number (1-based), indent and text after the indent.
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    number: usize,
    indent: usize,
    text: &'a str,
}

/// Reads a whole document, which must be a map.
pub fn parse(text: &str) -> Result<Node, String> {
    let raw: Vec<&str> = text.lines().collect();
    let mut reader = Reader { raw: &raw, at: 0 };
    let node = reader.map(0)?;
    match reader.next_line() {
        Some(line) => Err(format!("line {}: unexpected indentation", line.number)),
        None => Ok(node),
    }
}

struct Reader<'a> {
    raw: &'a [&'a str],
    /// Index of the next raw line.
    at: usize,
}

impl<'a> Reader<'a> {
    /// The next line with content, not consumed; blank and comment-only lines are skipped.
    fn next_line(&mut self) -> Option<Line<'a>> {
        while self.at < self.raw.len() {
            let raw = self.raw[self.at];
            let text = raw.trim_start_matches(' ');
            if text.is_empty() || text.starts_with('#') {
                self.at += 1;
                continue;
            }
            return Some(Line { number: self.at + 1, indent: raw.len() - text.len(), text });
        }
        None
    }

    /// The entries of a map whose keys sit at `indent`.
    fn map(&mut self, indent: usize) -> Result<Node, String> {
        let mut entries: Vec<(String, Node)> = Vec::new();
        while let Some(line) = self.next_line() {
            if line.indent < indent || line.text.starts_with("- ") || line.text == "-" {
                break;
            }
            if line.indent > indent {
                return Err(format!("line {}: unexpected indentation", line.number));
            }
            self.at += 1;
            let (key, rest) = split_key(line)?;
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(format!("line {}: `{key}` appears twice in one map", line.number));
            }
            let value = self.value(line, rest, indent)?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }

    /// What follows `key:` on `line`: a scalar there, a `|` block, or a nested map or list.
    fn value(&mut self, line: Line<'a>, rest: &str, indent: usize) -> Result<Node, String> {
        let rest = strip_comment(rest).trim();
        if rest == "|" {
            return Ok(Node::Scalar(self.block(indent)));
        }
        if !rest.is_empty() {
            return scalar(rest).map_err(|why| format!("line {}: {why}", line.number));
        }
        match self.next_line() {
            Some(next) if next.indent == indent && next.text.starts_with("- ") => self.list(indent),
            Some(next) if next.indent > indent && next.text.starts_with("- ") => self.list(next.indent),
            Some(next) if next.indent > indent => self.map(next.indent),
            _ => Ok(Node::Scalar(String::new())),
        }
    }

    /// A `- ` list whose markers sit at `indent`.
    fn list(&mut self, indent: usize) -> Result<Node, String> {
        let mut items = Vec::new();
        while let Some(line) = self.next_line() {
            if line.indent != indent || !line.text.starts_with("- ") {
                break;
            }
            self.at += 1;
            let item = &line.text[2..];
            let inner = Line { number: line.number, indent: indent + 2, text: item };
            if looks_like_key(item) {
                // The item is a map whose first key shares the marker's line.
                let (key, rest) = split_key(inner)?;
                let first = self.value(inner, rest, indent + 2)?;
                let Node::Map(mut entries) = self.map(indent + 2)? else { unreachable!("map() returns a map") };
                if entries.iter().any(|(k, _)| *k == key) {
                    return Err(format!("line {}: `{key}` appears twice in one map", line.number));
                }
                entries.insert(0, (key, first));
                items.push(Node::Map(entries));
            } else {
                items.push(scalar(strip_comment(item).trim()).map_err(|why| format!("line {}: {why}", line.number))?);
            }
        }
        Ok(Node::List(items))
    }

    /// A literal block: the lines deeper than `indent`, less the first one's indent, blank
    /// lines kept inside, one line break at the end.
    fn block(&mut self, indent: usize) -> String {
        let mut lines: Vec<&str> = Vec::new();
        let mut depth = None;
        while self.at < self.raw.len() {
            let raw = self.raw[self.at];
            let text = raw.trim_start_matches(' ');
            let this = raw.len() - text.len();
            if !text.is_empty() && this <= indent {
                break;
            }
            if !text.is_empty() && depth.is_none() {
                depth = Some(this);
            }
            lines.push(raw);
            self.at += 1;
        }
        while lines.last().is_some_and(|l| l.trim().is_empty()) {
            lines.pop();
        }
        let depth = depth.unwrap_or(indent + 2);
        let mut out = String::new();
        for line in lines {
            out.push_str(line.get(depth..).unwrap_or(""));
            out.push('\n');
        }
        out
    }
}

/// Whether a list item's text starts a map (`name: x`, `run: |`) rather than a scalar.
fn looks_like_key(text: &str) -> bool {
    !text.starts_with('"') && (text.contains(": ") || text.ends_with(':'))
}

/// `key: rest` of a line; keys are plain words, as the writer writes them.
fn split_key(line: Line<'_>) -> Result<(String, &str), String> {
    let (key, rest) = match line.text.split_once(": ") {
        Some((key, rest)) => (key, rest),
        None => match line.text.strip_suffix(':') {
            Some(key) => (key, ""),
            None => return Err(format!("line {}: expected `key: value`, found {:?}", line.number, line.text)),
        },
    };
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err(format!("line {}: {key:?} is not a key this reader knows", line.number));
    }
    Ok((key.to_string(), rest))
}

/// `text` without a ` # comment` outside double quotes.
fn strip_comment(text: &str) -> &str {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            '\\' if quoted && !escaped => {
                escaped = true;
                continue;
            }
            '"' if !escaped => quoted = !quoted,
            '#' if !quoted && text[..i].ends_with(' ') => return &text[..i],
            _ => {}
        }
        escaped = false;
    }
    text
}

/// A plain or double-quoted scalar, or `{}`.
fn scalar(text: &str) -> Result<Node, String> {
    if text == "{}" {
        return Ok(Node::Map(Vec::new()));
    }
    if text.starts_with('"') {
        return serde_json::from_str::<String>(text)
            .map(Node::Scalar)
            .map_err(|_| format!("{text} is not a double-quoted string this reader knows"));
    }
    if text.starts_with(['[', '{', '\'', '&', '*', '!', '>']) {
        return Err(format!("{text:?} uses YAML this reader does not know"));
    }
    Ok(Node::Scalar(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar_node(text: &str) -> Node {
        Node::Scalar(text.to_string())
    }

    #[test]
    fn it_reads_what_the_writer_writes() {
        let text = "name: images\n\non:\n  push:\n    branches:\n      - main\n      - \"[0-9]*\"\n  pull_request: {}\n\n\
                    jobs:\n  plan:\n    runs-on: ubuntu-24.04 # the runner\n    steps:\n      - name: Check out\n        \
                    uses: a/b@c # v1\n        with:\n          k: v\n      - run: |\n          one\n\n            two\n        \
                    env:\n          X: \"a: b\"\n";
        let doc = parse(text).unwrap();
        assert_eq!(doc.get("name"), Some(&scalar_node("images")));
        let push = doc.get("on").unwrap().get("push").unwrap();
        assert_eq!(push.get("branches").unwrap().items(), [scalar_node("main"), scalar_node("[0-9]*")]);
        assert_eq!(doc.get("on").unwrap().get("pull_request"), Some(&Node::Map(vec![])));
        let plan = doc.get("jobs").unwrap().get("plan").unwrap();
        assert_eq!(plan.get("runs-on").unwrap().str(), Some("ubuntu-24.04"));
        let steps = plan.get("steps").unwrap().items();
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].get("uses").unwrap().str(), Some("a/b@c"));
        assert_eq!(steps[0].get("with").unwrap().get("k").unwrap().str(), Some("v"));
        assert_eq!(steps[1].get("run").unwrap().str(), Some("one\n\n  two\n"));
        assert_eq!(steps[1].get("env").unwrap().get("X").unwrap().str(), Some("a: b"));
    }

    #[test]
    fn what_it_does_not_know_is_an_error_with_its_line() {
        assert_eq!(parse("a: 1\n   b: 2\n").unwrap_err(), "line 2: unexpected indentation");
        assert_eq!(parse("a: 1\na: 2\n").unwrap_err(), "line 2: `a` appears twice in one map");
        assert!(parse("a: [1, 2]\n").unwrap_err().starts_with("line 1: \"[1, 2]\" uses YAML"));
        assert!(parse("a: &anchor x\n").is_err());
        assert!(parse("just text\n").unwrap_err().starts_with("line 1: expected `key: value`"));
        assert!(parse("a: \"unclosed\n").is_err());
    }
}
