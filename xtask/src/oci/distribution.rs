//! The distribution API's small languages, parsed without I/O so that they can be fuzzed
//! (`xtask/tests/fuzz_parsers.rs`, `fuzz/fuzz_targets/registry.rs`): manifest and index
//! bodies, tag-list pages, `WWW-Authenticate` challenges as docker and the distribution spec
//! write them, token replies and `Link` headers. `sys::registry` sends the requests.

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;

use crate::oci::manifest::{ImageConfig, ManifestBody, MANIFEST_MEDIA_TYPES};

/// Entries of one index: a multi-arch image has a few dozen at most, and every entry of a
/// hostile 100,000-entry index was fetched.
pub const MAX_INDEX_ENTRIES: usize = 1000;

/// A manifest or index body served with `content_type`: its media type (see
/// [`manifest_media_type`]) and its parsed body, refused past [`MAX_INDEX_ENTRIES`] entries.
/// `name` (`repo:tag`, `repo@digest`) is for messages; serde's message is kept, since a
/// manifest holds no secret.
pub fn parse_manifest(name: &str, content_type: Option<&str>, body: &[u8]) -> Result<(String, ManifestBody)> {
    let body: ManifestBody = serde_json::from_slice(body).with_context(|| format!("parsing the manifest {name}"))?;
    if body.manifests.len() > MAX_INDEX_ENTRIES {
        bail!(
            "{name} lists {} manifests, more than the {MAX_INDEX_ENTRIES} this client reads of an index",
            body.manifests.len()
        );
    }
    let media_type = manifest_media_type(content_type, &body).with_context(|| name.to_string())?;
    Ok((media_type, body))
}

/// An image config blob.
pub fn parse_config(body: &[u8]) -> Result<ImageConfig> {
    Ok(serde_json::from_slice(body)?)
}

/// The names of one page of `GET /v2/<name>/tags/list` (`{"tags": null}` is no names), unchecked.
pub fn parse_tag_page(body: &[u8]) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Page {
        tags: Option<Vec<String>>,
    }
    let page: Page = serde_json::from_slice(body)?;
    Ok(page.tags.unwrap_or_default())
}

/// What a 401's `WWW-Authenticate` asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer { realm: String, service: Option<String>, scope: Option<String> },
}

/// The first Basic or Bearer challenge in a `WWW-Authenticate` value.
pub fn parse_challenge(header: &str) -> Result<Challenge> {
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
pub type Params = Vec<(String, String)>;

/// `Scheme k=v, k="quoted, with commas", Other k=v` as schemes with lower-cased parameter names.
pub fn parse_challenges(header: &str) -> Result<Vec<(String, Params)>> {
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
pub fn unquote(text: &str) -> Result<(String, &str)> {
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
pub fn parse_token(body: &[u8]) -> Result<String> {
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

/// Where JSON failed to parse, without serde's message, which may quote a secret.
pub fn json_error_place(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match err.classify() {
        Category::Syntax => "syntax error",
        Category::Data => "unexpected value",
        Category::Eof => "unexpected end",
        Category::Io => "read error",
    };
    format!("{what} at line {}, column {}", err.line(), err.column())
}

/// `application/json` out of `application/json; charset=utf-8`.
pub fn media_type_essence(content_type: Option<&str>) -> Option<String> {
    let essence = content_type?.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    (!essence.is_empty()).then_some(essence)
}

/// The body's own `mediaType`, else the `Content-Type`; both must agree when both are
/// manifest types, and the result must be one we asked for.
pub fn manifest_media_type(content_type: Option<&str>, body: &ManifestBody) -> Result<String> {
    let served = media_type_essence(content_type);
    let media_type = match (&body.media_type, &served) {
        (Some(declared), Some(served))
            if MANIFEST_MEDIA_TYPES.contains(&served.as_str()) && !served.eq_ignore_ascii_case(declared) =>
        {
            bail!("served as {served}, but the manifest says it is {declared}")
        }
        (Some(declared), _) => declared.clone(),
        (None, Some(served)) => served.clone(),
        (None, None) => bail!("the manifest has no mediaType and was served without a Content-Type"),
    };
    if !MANIFEST_MEDIA_TYPES.contains(&media_type.as_str()) {
        bail!("media type {media_type} is none of the manifest types this client reads");
    }
    Ok(media_type)
}

/// The target of a `Link: <…>; rel="next"` header.
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|link| {
        let (target, params) = link.trim().strip_prefix('<')?.split_once('>')?;
        let next = params.split(';').any(|p| p.trim().replace(' ', "").eq_ignore_ascii_case("rel=\"next\""));
        next.then(|| target.to_string())
    })
}
