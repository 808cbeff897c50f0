//! GitHub Actions expressions, as far as the generated workflow uses them: contexts and their
//! properties (`needs.plan.outputs.legs-1`, `matrix['runs-on']`), string, number and boolean
//! literals, `!`, `==`, `!=`, `&&`, `||`, parentheses, and the functions `success()`,
//! `failure()`, `cancelled()`, `always()`, `fromJSON()` and `toJSON()`. Semantics follow
//! GitHub's: `&&` and `||` give an operand, not a boolean; strings compare case-insensitively.

use serde_json::Value;

/// What an expression can see: the contexts, and how the jobs it depends on ended.
pub struct Scope<'a> {
    /// `github`, `needs`, `matrix`, `steps`, `runner`, `vars`, `secrets`, `inputs`, `env`.
    pub contexts: &'a Value,
    /// A job this one needs (directly or not) failed.
    pub failed: bool,
    /// A job this one needs (directly or not) was skipped: `success()` is false then too.
    pub skipped: bool,
    pub cancelled: bool,
}

impl Scope<'_> {
    fn succeeded(&self) -> bool {
        !(self.failed || self.skipped || self.cancelled)
    }
}

/// Evaluates an `if:` condition, written with or without `${{ }}`.
pub fn condition(text: &str, scope: &Scope<'_>) -> Result<bool, String> {
    let inner = text.trim();
    let inner = inner.strip_prefix("${{").and_then(|t| t.strip_suffix("}}")).unwrap_or(inner);
    // A condition without a status function implies `success() &&`, as on GitHub.
    let implied = !["success(", "failure(", "cancelled(", "always("].iter().any(|f| inner.contains(f));
    let value = evaluate(inner, scope)?;
    Ok(truthy(&value) && (!implied || scope.succeeded()))
}

/// Substitutes every `${{ … }}` in `text`. A text that is one expression gives its value (an
/// object for `fromJSON`); otherwise each value is written into the string.
pub fn substitute(text: &str, scope: &Scope<'_>) -> Result<Value, String> {
    let trimmed = text.trim();
    if let Some(inner) = trimmed.strip_prefix("${{").and_then(|t| t.strip_suffix("}}")) {
        if !inner.contains("${{") {
            return evaluate(inner, scope);
        }
    }
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").ok_or_else(|| format!("{text:?}: `${{{{` without `}}}}`"))? + start;
        out.push_str(&render(&evaluate(&rest[start + 3..end], scope)?));
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    Ok(Value::String(out))
}

/// A value as GitHub writes it into a string.
pub fn render(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

pub fn evaluate(text: &str, scope: &Scope<'_>) -> Result<Value, String> {
    let tokens = tokenize(text)?;
    let mut parser = Parser { tokens: &tokens, at: 0, scope };
    let value = parser.or()?;
    match parser.tokens.get(parser.at) {
        None => Ok(value),
        Some(token) => Err(format!("{text:?}: unexpected {token:?}")),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Num(f64),
    Op(&'static str),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            // '' inside a string is one quote.
            let mut s = String::new();
            i += 1;
            loop {
                match (chars.get(i), chars.get(i + 1)) {
                    (Some('\''), Some('\'')) => {
                        s.push('\'');
                        i += 2;
                    }
                    (Some('\''), _) => break,
                    (Some(c), _) => {
                        s.push(*c);
                        i += 1;
                    }
                    (None, _) => return Err(format!("{text:?}: a string is not closed")),
                }
            }
            i += 1;
            tokens.push(Token::Str(s));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let number: String = chars[start..i].iter().collect();
            tokens.push(Token::Num(number.parse().map_err(|_| format!("{text:?}: {number} is not a number"))?));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | '-')) {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let op = ["==", "!=", "&&", "||"].into_iter().find(|op| *op == two);
            let op = match op {
                Some(op) => op,
                None => match c {
                    '!' => "!",
                    '(' => "(",
                    ')' => ")",
                    '.' => ".",
                    '[' => "[",
                    ']' => "]",
                    ',' => ",",
                    _ => return Err(format!("{text:?}: {c:?} is not part of the expressions this rehearsal knows")),
                },
            };
            i += op.len();
            tokens.push(Token::Op(op));
        }
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
    scope: &'a Scope<'a>,
}

impl Parser<'_> {
    fn eat(&mut self, op: &str) -> bool {
        let found = matches!(self.tokens.get(self.at), Some(Token::Op(o)) if *o == op);
        if found {
            self.at += 1;
        }
        found
    }

    fn expect(&mut self, op: &str) -> Result<(), String> {
        match self.eat(op) {
            true => Ok(()),
            false => Err(format!("expected `{op}`, found {:?}", self.tokens.get(self.at))),
        }
    }

    fn or(&mut self) -> Result<Value, String> {
        let mut value = self.and()?;
        while self.eat("||") {
            let right = self.and()?;
            if !truthy(&value) {
                value = right;
            }
        }
        Ok(value)
    }

    fn and(&mut self) -> Result<Value, String> {
        let mut value = self.unary()?;
        while self.eat("&&") {
            let right = self.unary()?;
            if truthy(&value) {
                value = right;
            }
        }
        Ok(value)
    }

    /// A comparison of two operands, or one operand.
    fn unary(&mut self) -> Result<Value, String> {
        let left = self.operand()?;
        for (op, equal) in [("==", true), ("!=", false)] {
            if self.eat(op) {
                let right = self.operand()?;
                return Ok(Value::Bool(loosely_equal(&left, &right) == equal));
            }
        }
        Ok(left)
    }

    /// `!` binds tighter than `==`, as on GitHub: `!a == b` is `(!a) == b`.
    fn operand(&mut self) -> Result<Value, String> {
        if self.eat("!") {
            return Ok(Value::Bool(!truthy(&self.operand()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Value, String> {
        let token = self.tokens.get(self.at).cloned().ok_or("an expression ends early")?;
        self.at += 1;
        let mut value = match token {
            Token::Op("(") => {
                let value = self.or()?;
                self.expect(")")?;
                value
            }
            Token::Str(s) => Value::String(s),
            // Whole numbers stay integers: `${{ 1 }}` is `1`, and `x[0]` indexes.
            Token::Num(n) if n.fract() == 0.0 && n.abs() < 9e15 => Value::from(n as i64),
            Token::Num(n) => serde_json::Number::from_f64(n).map(Value::Number).unwrap_or(Value::Null),
            Token::Ident(name) if self.eat("(") => {
                let mut args = Vec::new();
                if !self.eat(")") {
                    loop {
                        args.push(self.or()?);
                        if self.eat(")") {
                            break;
                        }
                        self.expect(",")?;
                    }
                }
                self.call(&name, &args)?
            }
            Token::Ident(name) => match name.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                context => self.scope.contexts.get(context).cloned().unwrap_or(Value::Null),
            },
            other => return Err(format!("unexpected {other:?}")),
        };
        loop {
            if self.eat(".") {
                match self.tokens.get(self.at).cloned() {
                    Some(Token::Ident(key)) => {
                        self.at += 1;
                        value = value.get(&key).cloned().unwrap_or(Value::Null);
                    }
                    other => return Err(format!("expected a property name after `.`, found {other:?}")),
                }
            } else if self.eat("[") {
                let key = self.or()?;
                self.expect("]")?;
                value = match &key {
                    Value::String(k) => value.get(k).cloned().unwrap_or(Value::Null),
                    Value::Number(n) => n.as_u64().and_then(|i| value.get(i as usize).cloned()).unwrap_or(Value::Null),
                    _ => Value::Null,
                };
            } else {
                return Ok(value);
            }
        }
    }

    fn call(&self, name: &str, args: &[Value]) -> Result<Value, String> {
        let scope = self.scope;
        Ok(match (name.to_ascii_lowercase().as_str(), args) {
            ("success", []) => Value::Bool(scope.succeeded()),
            ("failure", []) => Value::Bool(scope.failed),
            ("cancelled", []) => Value::Bool(scope.cancelled),
            ("always", []) => Value::Bool(true),
            ("fromjson", [Value::String(text)]) => {
                serde_json::from_str(text).map_err(|e| format!("fromJSON of {text:?}: {e}"))?
            }
            ("tojson", [value]) => Value::String(serde_json::to_string_pretty(value).unwrap_or_default()),
            _ => {
                return Err(format!("{name}() with {} argument(s) is not a function this rehearsal knows", args.len()))
            }
        })
    }
}

/// GitHub's `==`: strings without regard to case, numbers by value, else by JSON equality.
fn loosely_equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
        (Value::Number(a), Value::String(b)) | (Value::String(b), Value::Number(a)) => {
            b.trim().parse::<f64>().ok() == a.as_f64()
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Null, Value::String(s)) | (Value::String(s), Value::Null) => s.is_empty(),
        _ => left == right,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope(contexts: &Value, failed: bool) -> Scope<'_> {
        Scope { contexts, failed, skipped: false, cancelled: false }
    }

    #[test]
    fn the_conditions_of_the_generated_workflow() {
        let contexts = json!({
            "github": {"event_name": "push", "event": {"before": "abc"}},
            "needs": {"plan": {"outputs": {"legs-0": "2", "legs-1": "0", "matrix-0": "{\"include\":[{\"unit\":\"base\"}]}"}}},
            "matrix": {"runs-on": "ubuntu-24.04", "builder": null},
        });
        let ok = scope(&contexts, false);
        assert!(condition("github.event_name != 'pull_request'", &ok).unwrap());
        assert!(!condition("github.event_name == 'PULL_REQUEST'", &ok).unwrap());
        assert!(condition("needs.plan.outputs.legs-0 != '0'", &ok).unwrap());
        assert!(!condition("!cancelled() && !failure() && needs.plan.outputs.legs-1 != '0'", &ok).unwrap());
        let failed = scope(&contexts, true);
        assert!(!condition("github.event_name != 'pull_request'", &failed).unwrap(), "success() is implied");
        assert!(!condition("!cancelled() && !failure() && needs.plan.outputs.legs-0 != '0'", &failed).unwrap());
        assert!(condition("always()", &failed).unwrap());
        let skipped = Scope { contexts: &contexts, failed: false, skipped: true, cancelled: false };
        assert!(!condition("github.event_name != 'pull_request'", &skipped).unwrap(), "a skipped need skips it");
        assert!(condition("!cancelled() && !failure() && needs.plan.outputs.legs-0 != '0'", &skipped).unwrap());
        assert_eq!(evaluate("!null == false", &ok).unwrap(), json!(false), "(!null) == false");
        assert_eq!(evaluate("fromJSON('2') == 2", &ok).unwrap(), json!(true));
        assert_eq!(substitute("${{ 1 }}", &ok).unwrap(), json!(1));
        assert!(condition(
            "${{ github.event_name != 'pull_request' || !github.event.pull_request.head.repo.fork }}",
            &ok
        )
        .unwrap());
    }

    #[test]
    fn substitution_gives_values_or_strings() {
        let contexts = json!({
            "github": {"event": {"before": "abc"}, "ref": "refs/heads/main"},
            "needs": {"plan": {"outputs": {"matrix-0": "{\"include\":[{\"unit\":\"base\"}]}"}}},
            "matrix": {"runs-on": "ubuntu-24.04", "builder": null},
            "runner": {"temp": "/tmp/r"},
        });
        let s = scope(&contexts, false);
        let matrix = substitute("${{ fromJSON(needs.plan.outputs.matrix-0) }}", &s).unwrap();
        assert_eq!(matrix, json!({"include": [{"unit": "base"}]}));
        assert_eq!(substitute("${{ matrix.builder || 'xtask' }}", &s).unwrap(), json!("xtask"));
        assert_eq!(substitute("xtask-${{ matrix.runs-on }}", &s).unwrap(), json!("xtask-ubuntu-24.04"));
        assert_eq!(substitute("${{ runner.temp }}/xtask", &s).unwrap(), json!("/tmp/r/xtask"));
        assert_eq!(substitute("images-${{ github.ref }}", &s).unwrap(), json!("images-refs/heads/main"));
        let pr_or_push = "${{ github.event.pull_request.base.sha || github.event.before }}";
        assert_eq!(substitute(pr_or_push, &s).unwrap(), json!("abc"));
        assert_eq!(substitute("${{ matrix['runs-on'] }}", &s).unwrap(), json!("ubuntu-24.04"));
        assert_eq!(substitute("plain", &s).unwrap(), json!("plain"));
        assert_eq!(substitute("${{ 'it''s' }}", &s).unwrap(), json!("it's"));
    }

    #[test]
    fn what_it_does_not_know_is_an_error() {
        let contexts = json!({});
        let s = scope(&contexts, false);
        assert!(evaluate("hashFiles('x')", &s).unwrap_err().contains("not a function this rehearsal knows"));
        assert!(evaluate("a > b", &s).is_err());
        assert!(evaluate("'open", &s).is_err());
        assert!(substitute("${{ unclosed", &s).is_err());
        assert!(evaluate("(a", &s).is_err());
    }
}
