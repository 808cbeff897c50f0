//! Pull analytics, pure: reading a registry's notification envelopes (distribution's
//! `notifications.endpoints`) into pull records, and counting them per day, image, tag and
//! platform. `sys::analytics` receives the events and resolves digests; `commands::analytics`
//! prints the counts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The largest notification body read; distribution sends a few events per envelope.
pub const MAX_BODY: usize = 1 << 20;

/// Media types of what a pull resolves: an index (or manifest list) names platform images.
const INDEXES: [&str; 2] =
    ["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"];
const IMAGES: [&str; 2] =
    ["application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"];

/// One manifest fetched from the registry, as a notification reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullEvent {
    /// The event's id: a registry that resends an envelope sends the same ids.
    pub id: String,
    pub time: String,
    pub repository: String,
    pub digest: String,
    pub tag: Option<String>,
    pub index: bool,
    /// Who asked: the client's address, to tie a platform image to the index it came from.
    pub addr: String,
    pub user_agent: String,
}

/// One line of `target/xtask/pulls.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRecord {
    pub time: String,
    pub repository: String,
    /// The tag the client asked for, where the index it came through was pulled by tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    pub digest: String,
    /// `linux/arm64`; `None` for an index, which is no platform's pull.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    pub user_agent: String,
}

#[derive(Deserialize)]
struct Envelope {
    events: Vec<RawEvent>,
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(default)]
    id: String,
    #[serde(default)]
    timestamp: String,
    action: String,
    target: RawTarget,
    #[serde(default)]
    request: RawRequest,
}

#[derive(Deserialize)]
struct RawTarget {
    #[serde(default, rename = "mediaType")]
    media_type: String,
    #[serde(default)]
    digest: String,
    #[serde(default)]
    repository: String,
    #[serde(default)]
    tag: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawRequest {
    #[serde(default)]
    addr: String,
    #[serde(default)]
    useragent: String,
}

/// The manifest pulls in one envelope, and how many of its events were refused (an invalid
/// name, digest, tag or time); pushes, deletes and blobs are left out. Only a body that is no
/// envelope is refused whole: a registry resends a refused envelope until it is taken, so one
/// bad event must not hold back every later one.
pub fn pull_events(body: &[u8]) -> Result<(Vec<PullEvent>, usize), String> {
    if body.len() > MAX_BODY {
        return Err(format!("the body is over {MAX_BODY} bytes"));
    }
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| format!("not a notification envelope: {e}"))?;
    let (mut pulls, mut refused) = (Vec::new(), 0);
    for event in envelope.events {
        let media = event.target.media_type.as_str();
        let index = INDEXES.contains(&media);
        if event.action != "pull" || !(index || IMAGES.contains(&media)) {
            continue;
        }
        match pull_event(event, index) {
            Some(pull) => pulls.push(pull),
            None => refused += 1,
        }
    }
    Ok((pulls, refused))
}

fn pull_event(event: RawEvent, index: bool) -> Option<PullEvent> {
    crate::oci::reference::check_repository(&event.target.repository).ok()?;
    crate::oci::reference::check_digest(&event.target.digest).ok()?;
    let tag = event.target.tag.filter(|t| !t.is_empty());
    if let Some(tag) = &tag {
        crate::oci::reference::check_tag(tag).ok()?;
    }
    Some(PullEvent {
        id: clip(&event.id, 128),
        time: crate::core::event::utc(rfc3339(&event.timestamp)?).1,
        repository: event.target.repository,
        digest: event.target.digest,
        tag,
        index,
        addr: clip(&event.request.addr, 64),
        user_agent: clip(&event.request.useragent, 256),
    })
}

/// Seconds since the epoch of an RFC 3339 time, with its fraction and its offset (`Z`,
/// `+01:00`): a registry stamps events in its own time zone.
fn rfc3339(text: &str) -> Option<u64> {
    let local = crate::core::event::parse_utc(&format!("{}Z", text.get(..19)?))?;
    let rest = &text[19..];
    let rest = match rest.strip_prefix('.') {
        Some(fraction) => fraction.trim_start_matches(|c: char| c.is_ascii_digit()),
        None => rest,
    };
    if rest == "Z" || rest == "z" {
        return Some(local);
    }
    let (sign, offset) = match rest.split_at_checked(1)? {
        ("+", offset) => (1i64, offset),
        ("-", offset) => (-1i64, offset),
        _ => return None,
    };
    let (hours, minutes) = offset.split_once(':')?;
    let (hours, minutes): (i64, i64) = (hours.parse().ok()?, minutes.parse().ok()?);
    if hours > 23 || minutes > 59 {
        return None;
    }
    u64::try_from(local as i64 - sign * (hours * 3600 + minutes * 60)).ok()
}

/// A platform a registry's config or index names, kept only when it looks like one
/// (`linux/arm64/v8`: two or three short lower-case parts); anything else is `unknown`.
pub fn platform_name(text: &str) -> String {
    let parts: Vec<&str> = text.split('/').collect();
    let valid = text.len() <= 64
        && (2..=3).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        });
    if valid {
        text.to_string()
    } else {
        "unknown".to_string()
    }
}

/// At most `max` characters of a client-sent value, its control characters escaped.
fn clip(text: &str, max: usize) -> String {
    crate::core::text::sanitize(&text.chars().take(max).collect::<String>())
}

/// One count of the report: an image's pulls on one platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    pub image: String,
    pub platform: String,
    pub pulls: usize,
}

/// Pulls on one day of one image, tag and platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayCount {
    pub day: String,
    pub image: String,
    pub tag: String,
    pub platform: String,
    pub pulls: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PullReport {
    /// Per image and platform, most pulled first.
    pub counts: Vec<Count>,
    pub days: Vec<DayCount>,
    /// arm64 pulls over all platform pulls; `None` without any.
    pub arm64_share: Option<f64>,
    /// The most pulled arm64 images, at most ten.
    pub top_arm64: Vec<Count>,
    /// Notifications the receiver refused, by HTTP status.
    pub refused: BTreeMap<String, u64>,
}

/// Counts the platform pulls among `records` at or after `since` (`YYYY-MM-DD`).
pub fn report(records: &[PullRecord], since: Option<&str>, refused: BTreeMap<String, u64>) -> PullReport {
    let kept = records.iter().filter(|r| r.platform.is_some() && since.is_none_or(|s| r.time.as_str() >= s));
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut days: BTreeMap<(String, String, String, String), usize> = BTreeMap::new();
    for record in kept {
        let platform = record.platform.clone().unwrap_or_default();
        *counts.entry((record.repository.clone(), platform.clone())).or_default() += 1;
        let day = record.time.get(..10).unwrap_or(&record.time).to_string();
        let tag = record.tag.clone().unwrap_or_else(|| crate::oci::digest::short_digest(&record.digest));
        *days.entry((day, record.repository.clone(), tag, platform)).or_default() += 1;
    }
    let mut counts: Vec<Count> =
        counts.into_iter().map(|((image, platform), pulls)| Count { image, platform, pulls }).collect();
    counts.sort_by(|a, b| b.pulls.cmp(&a.pulls).then(a.image.cmp(&b.image)).then(a.platform.cmp(&b.platform)));
    let total: usize = counts.iter().map(|c| c.pulls).sum();
    let arm64: usize = counts.iter().filter(|c| c.platform.starts_with("linux/arm64")).map(|c| c.pulls).sum();
    let top_arm64 = counts.iter().filter(|c| c.platform.starts_with("linux/arm64")).take(10).cloned().collect();
    PullReport {
        counts,
        days: days
            .into_iter()
            .map(|((day, image, tag, platform), pulls)| DayCount { day, image, tag, platform, pulls })
            .collect(),
        arm64_share: (total > 0).then(|| arm64 as f64 / total as f64),
        top_arm64,
        refused,
    }
}

/// The report as a table or markdown (`markdown` true).
pub fn text(report: &PullReport, markdown: bool) -> String {
    let mut rows: Vec<Vec<String>> = report
        .days
        .iter()
        .map(|d| vec![d.day.clone(), d.image.clone(), d.tag.clone(), d.platform.clone(), d.pulls.to_string()])
        .collect();
    rows.iter_mut().flatten().for_each(|cell| *cell = crate::core::text::sanitize(cell));
    let share = report.arm64_share.map_or_else(|| "no pulls yet".to_string(), |s| format!("{:.0} %", s * 100.0));
    let top: Vec<String> = report.top_arm64.iter().map(|c| format!("{} ({})", c.image, c.pulls)).collect();
    let refused: Vec<String> = report.refused.iter().map(|(status, n)| format!("{n} with {status}")).collect();
    let mut out = String::new();
    if markdown {
        out.push_str("## Pulls\n\n| day | image | tag | platform | pulls |\n| --- | --- | --- | --- | --- |\n");
        for row in &rows {
            let cells: Vec<String> = row.iter().map(|cell| crate::core::text::markdown_cell(cell)).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out.push('\n');
    } else {
        out.push_str(&crate::core::text::table(&["DAY", "IMAGE", "TAG", "PLATFORM", "PULLS"], &rows));
        out.push('\n');
    }
    out.push_str(&format!("arm64 share: {share}\n"));
    out.push_str(&format!(
        "Most pulled on arm64: {}\n",
        if top.is_empty() { "none".to_string() } else { top.join(", ") }
    ));
    if !refused.is_empty() {
        out.push_str(&format!("Refused notifications: {}\n", refused.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn envelope(events: &[serde_json::Value]) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({ "events": events })).unwrap()
    }

    fn event(action: &str, media: &str, repository: &str, d: &str, tag: Option<&str>) -> serde_json::Value {
        serde_json::json!({
            "id": "x", "timestamp": "2026-12-01T10:11:12.123456789Z", "action": action,
            "target": {"mediaType": media, "digest": d, "repository": repository, "tag": tag, "size": 1},
            "request": {"addr": "127.0.0.1:5555", "useragent": "docker/26.1.5 \u{1b}[31m"},
        })
    }

    #[test]
    fn manifest_pulls_are_read_and_the_rest_left_out() {
        let body = envelope(&[
            event("pull", INDEXES[0], "acme/app", &digest('a'), Some("1.0")),
            event("pull", IMAGES[0], "acme/app", &digest('b'), None),
            event("pull", "application/octet-stream", "acme/app", &digest('c'), None),
            event("push", IMAGES[0], "acme/app", &digest('d'), Some("1.0")),
        ]);
        let (pulls, refused) = pull_events(&body).unwrap();
        assert_eq!((pulls.len(), refused), (2, 0));
        assert!(pulls[0].index && !pulls[1].index);
        assert_eq!(pulls[0].tag.as_deref(), Some("1.0"));
        assert_eq!(pulls[0].time, "2026-12-01T10:11:12Z");
        assert_eq!(pulls[1].user_agent, "docker/26.1.5 \\u{1b}[31m", "no raw escape reaches a terminal");
    }

    #[test]
    fn what_is_no_envelope_is_refused_and_an_invalid_event_skipped() {
        assert!(pull_events(b"{").unwrap_err().starts_with("not a notification envelope"));
        assert!(pull_events(b"{\"events\": 3}").is_err());
        assert!(pull_events(&vec![b' '; MAX_BODY + 1]).unwrap_err().contains("over"));
        let good = event("pull", IMAGES[0], "acme/app", &digest('a'), Some(""));
        let mut late = event("pull", IMAGES[0], "acme/app", &digest('a'), None);
        late["timestamp"] = serde_json::json!("yesterday");
        let bad = [
            event("pull", IMAGES[0], "acme/app", "sha256:zz", None),
            event("pull", IMAGES[0], "../etc", &digest('a'), None),
            event("pull", IMAGES[0], "acme/app", &digest('a'), Some("a b")),
            late,
        ];
        let (pulls, refused) = pull_events(&envelope(&[&bad[..], &[good]].concat())).unwrap();
        assert_eq!((pulls.len(), refused), (1, 4), "the good event is kept, an empty tag is none");
        assert_eq!(pulls[0].tag, None);
    }

    #[test]
    fn times_carry_their_offset_and_platforms_their_shape() {
        assert_eq!(rfc3339("2026-12-01T10:11:12.5Z"), crate::core::event::parse_utc("2026-12-01T10:11:12Z"));
        assert_eq!(rfc3339("2026-12-01T11:11:12+01:00"), crate::core::event::parse_utc("2026-12-01T10:11:12Z"));
        assert_eq!(rfc3339("2026-12-01T05:41:12.123-04:30"), crate::core::event::parse_utc("2026-12-01T10:11:12Z"));
        for bad in ["2026-12-01T10:11:12", "2026-12-01T10:11:12+25:00", "2026-12-01T10:11:12 PST", "x"] {
            assert_eq!(rfc3339(bad), None, "{bad}");
        }
        assert_eq!(platform_name("linux/arm64/v8"), "linux/arm64/v8");
        for bad in ["linux", "</title><script>", "linux/ARM64", &format!("linux/{}", "a".repeat(80)), "a/b/c/d"] {
            assert_eq!(platform_name(bad), "unknown", "{bad}");
        }
    }

    #[test]
    fn counts_per_platform_day_and_the_arm64_share() {
        let record = |time: &str, repository: &str, tag: Option<&str>, platform: Option<&str>| PullRecord {
            time: time.into(),
            repository: repository.into(),
            tag: tag.map(str::to_string),
            digest: digest('a'),
            platform: platform.map(str::to_string),
            user_agent: "docker".into(),
        };
        let records = [
            record("2026-11-30T10:00:00Z", "acme/app", Some("1.0"), Some("linux/arm64")),
            record("2026-12-01T10:00:00Z", "acme/app", Some("1.0"), Some("linux/arm64")),
            record("2026-12-01T10:00:00Z", "acme/app", Some("1.0"), None),
            record("2026-12-01T11:00:00Z", "acme/app", None, Some("linux/amd64")),
            record("2026-12-01T12:00:00Z", "acme/base", Some("2"), Some("linux/arm64")),
        ];
        let refused = BTreeMap::from([("401".to_string(), 2)]);
        let all = report(&records, None, refused.clone());
        let counts: Vec<(&str, &str, usize)> =
            all.counts.iter().map(|c| (c.image.as_str(), c.platform.as_str(), c.pulls)).collect();
        assert_eq!(
            counts,
            [("acme/app", "linux/arm64", 2), ("acme/app", "linux/amd64", 1), ("acme/base", "linux/arm64", 1)]
        );
        assert_eq!(all.arm64_share, Some(0.75), "the index pull is no platform's");
        assert_eq!(all.top_arm64[0].image, "acme/app");
        assert_eq!(all.days.len(), 4);
        assert_eq!(all.days[2].tag, "sha256:aaaaaaaaaaaa", "a pull by digest is named by it");
        let json = serde_json::to_value(&all.counts[0]).unwrap();
        assert_eq!(json, serde_json::json!({"image": "acme/app", "platform": "linux/arm64", "pulls": 2}));
        let today = report(&records, Some("2026-12-01"), BTreeMap::new());
        assert_eq!(today.counts.iter().map(|c| c.pulls).sum::<usize>(), 3);
        let table = text(&all, false);
        assert!(table.contains("arm64 share: 75 %") && table.contains("Refused notifications: 2 with 401"), "{table}");
        assert!(text(&all, true).starts_with("## Pulls\n\n| day | image |"));
    }
}
