//! WWW-Authenticate challenges and token replies, parsed as docker and the distribution
//! spec write them.

use super::*;

/// What a 401's `WWW-Authenticate` asks for.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Challenge {
    Basic,
    Bearer { realm: String, service: Option<String>, scope: Option<String> },
}

/// The first Basic or Bearer challenge in a `WWW-Authenticate` value.
pub(super) fn parse_challenge(header: &str) -> Result<Challenge> {
    let challenges = parse_challenges(header).with_context(|| format!("malformed WWW-Authenticate {header:?}"))?;
    for (scheme, params) in challenges {
        let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        if scheme.eq_ignore_ascii_case("basic") {
            return Ok(Challenge::Basic);
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            let realm = param("realm").with_context(|| format!("a Bearer challenge without a realm: {header:?}"))?;
            return Ok(Challenge::Bearer { realm, service: param("service"), scope: param("scope") });
        }
    }
    bail!("no Basic or Bearer challenge in WWW-Authenticate {header:?}")
}

/// A challenge's parameters, in order.
pub(super) type Params = Vec<(String, String)>;

/// `Scheme k=v, k="quoted, with commas", Other k=v` as schemes with lower-cased parameter names.
pub(super) fn parse_challenges(header: &str) -> Result<Vec<(String, Params)>> {
    let mut challenges: Vec<(String, Params)> = Vec::new();
    let mut rest = header;
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        if rest.is_empty() {
            return Ok(challenges);
        }
        let end = rest.find(|c: char| c == ',' || c == '=' || c.is_whitespace()).unwrap_or(rest.len());
        let (name, after) = rest.split_at(end);
        if name.is_empty() {
            bail!("a parameter without a name");
        }
        let Some(value) = after.trim_start().strip_prefix('=') else {
            challenges.push((name.to_string(), vec![]));
            rest = after;
            continue;
        };
        let Some((_, params)) = challenges.last_mut() else { bail!("parameter {name} before any scheme") };
        let value = value.trim_start();
        let (value, after) = match value.strip_prefix('"') {
            Some(quoted) => unquote(quoted)?,
            None => {
                let end = value.find(|c: char| c == ',' || c.is_whitespace()).unwrap_or(value.len());
                (value[..end].to_string(), &value[end..])
            }
        };
        params.push((name.to_ascii_lowercase(), value));
        rest = after;
    }
}

/// The quoted string that `text` (just past its opening quote) starts with, and what follows.
pub(super) fn unquote(text: &str) -> Result<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &text[i + 1..])),
            '\\' => value.extend(chars.next().map(|(_, c)| c)),
            c => value.push(c),
        }
    }
    bail!("an unterminated quoted string")
}

/// The token in a token service's JSON reply (`token`, or OAuth2's `access_token`).
pub(super) fn parse_token(body: &[u8]) -> Result<String> {
    #[derive(Deserialize)]
    struct TokenReply {
        #[serde(default)]
        token: Option<String>,
        #[serde(default)]
        access_token: Option<String>,
    }
    // serde's message may quote the token: only say where the reply went wrong.
    let reply: TokenReply =
        serde_json::from_slice(body).map_err(|e| anyhow!("the reply is no token JSON ({})", json_error_place(&e)))?;
    let nonempty = |t: Option<String>| t.filter(|t| !t.is_empty());
    nonempty(reply.token).or(nonempty(reply.access_token)).context("the reply has neither a token nor an access_token")
}

pub(super) fn basic_authorization(username: &str, password: &str) -> String {
    format!("Basic {}", BASE64_STANDARD.encode(format!("{username}:{password}")))
}
