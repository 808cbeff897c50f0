use super::*;
use crate::core::dockerignore::Glob;

fn ctx() -> LintContext {
    LintContext {
        platforms: vec!["linux/amd64".to_string(), "linux/arm64".to_string()],
        context: Utf8PathBuf::from("images/t"),
        ..LintContext::default()
    }
}

fn found_with(text: &str, ctx: &LintContext) -> Vec<(usize, &'static str)> {
    lint(Utf8Path::new("images/t/Dockerfile"), text, ctx).iter().map(|f| (f.line, f.rule.id())).collect()
}

fn found(text: &str) -> Vec<(usize, &'static str)> {
    found_with(text, &ctx())
}

fn messages(text: &str, ctx: &LintContext) -> Vec<String> {
    lint(Utf8Path::new("images/t/Dockerfile"), text, ctx).iter().map(|f| f.to_string()).collect()
}

#[test]
fn clean_dockerfile_has_no_findings() {
    let text = "# syntax=docker/dockerfile:1\nARG DEBIAN=debian:12.5\nFROM ${DEBIAN} AS build\nRUN --mount=type=cache,target=/var/cache/apt apt-get update && apt-get install -y curl\nFROM scratch\nCOPY --from=build /usr/bin/curl /curl\nUSER 65534:65534\n";
    assert_eq!(found(text), []);
}

#[test]
fn root_user() {
    assert_eq!(found("FROM debian:12\nRUN true\n"), [(1, "root-user")], "no USER at all");
    for user in ["0", "root", "0:0", "root:root"] {
        assert_eq!(found(&format!("FROM debian:12\nUSER {user}\n")), [(2, "root-user")], "USER {user}");
    }
    assert_eq!(found("FROM debian:12\nUSER 0:0\nRUN true\nUSER 65534:65534\n"), []);
    assert_eq!(found("FROM debian:12\nUSER 1000\nRUN true\nUSER root\n"), [(4, "root-user")]);
    assert_eq!(found("FROM debian:12\nARG RUN_AS=root\nUSER ${RUN_AS}\n"), [(3, "root-user")]);
    assert_eq!(found("FROM debian:12\nUSER $UNKNOWN\n"), [], "an unresolved user is taken as meant non-root");
    assert_eq!(found("FROM debian:12 AS base\nUSER 1000\nFROM base\nRUN true\n"), [], "inherited from a stage");
    assert_eq!(found("FROM debian:12 AS base\nUSER 1000\nFROM debian:12\n"), [(3, "root-user")]);
    assert_eq!(found("FROM debian:12\nUSER 1000\nFROM scratch\n"), [(3, "root-user")], "only the final stage");
}

#[test]
fn root_user_follows_in_repo_parents() {
    let text = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN true\n";
    let mut ctx = ctx();
    ctx.parents.insert("BASE_IMAGE".to_string(), Inherited { user: Some(User::NonRoot), healthcheck: false });
    assert_eq!(found_with(text, &ctx), []);
    ctx.parents.insert("BASE_IMAGE".to_string(), Inherited { user: Some(User::Root), healthcheck: false });
    assert_eq!(messages(text, &ctx), ["images/t/Dockerfile:2: root-user: the final stage inherits root from its in-repo parent and sets no USER\n  fix: end the final stage with a non-root `USER`, e.g. `USER 65534:65534`"]);
    ctx.parents.insert("BASE_IMAGE".to_string(), Inherited::default());
    assert_eq!(found_with(text, &ctx), [(2, "root-user")]);

    let parent = "FROM scratch\nUSER 0\nHEALTHCHECK CMD true\nUSER 65534\n";
    assert_eq!(inherited(parent, &ctx), Inherited { user: Some(User::NonRoot), healthcheck: true });
    assert_eq!(inherited("FROM scratch\nHEALTHCHECK NONE\n", &ctx), Inherited::default());
}

#[test]
fn healthcheck_for_services() {
    let text = "FROM nginx:1.27\nUSER 101\nEXPOSE 8080/tcp\n";
    assert_eq!(messages(text, &ctx()), ["images/t/Dockerfile:3: healthcheck: the image EXPOSEs 8080/tcp but declares no HEALTHCHECK\n  fix: add e.g. `HEALTHCHECK CMD wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1`"]);
    assert_eq!(found("FROM nginx:1.27\nUSER 101\nEXPOSE 80\nHEALTHCHECK CMD curl -f http://localhost/\n"), []);
    assert_eq!(found("FROM nginx:1.27\nUSER 101\nEXPOSE 80\nHEALTHCHECK NONE\n"), [(3, "healthcheck")]);
    assert_eq!(found("FROM nginx:1.27 AS a\nEXPOSE 80\nFROM nginx:1.27\nUSER 101\n"), [], "not a service");
    let mut ctx = ctx();
    ctx.parents.insert("BASE_IMAGE".to_string(), Inherited { user: Some(User::NonRoot), healthcheck: true });
    assert_eq!(found_with("ARG BASE_IMAGE\nFROM $BASE_IMAGE\nEXPOSE 80\n", &ctx), [], "inherited HEALTHCHECK");
}

#[test]
fn unpinned_base() {
    let user = "\nUSER 1\n";
    let cases: [(&str, Vec<(usize, &str)>); 11] = [
        ("FROM debian", vec![(1, "unpinned-base")]),
        ("FROM debian:latest", vec![(1, "unpinned-base")]),
        ("FROM node:lts-alpine", vec![(1, "unpinned-base")]),
        ("FROM localhost:5000/debian", vec![(1, "unpinned-base")]),
        ("FROM debian:12.5", vec![]),
        ("FROM debian:bookworm-slim", vec![]),
        ("FROM localhost:5000/debian:12", vec![]),
        ("FROM debian@sha256:0123", vec![]),
        ("FROM --platform=$BUILDPLATFORM scratch", vec![]),
        ("ARG V=12\nARG IMG=debian:${V}\nFROM $IMG AS Build\nFROM build", vec![]),
        ("ARG IMG\nFROM ${IMG}", vec![(2, "unpinned-base")]),
    ];
    for (text, expected) in cases {
        assert_eq!(found(&format!("{text}{user}")), expected, "{text}");
    }
    let text = "ARG IMG=debian\nFROM ${IMG}\nUSER 1\n";
    assert_eq!(messages(text, &ctx()), ["images/t/Dockerfile:2: unpinned-base: base image `debian` has no tag, so it means `latest`\n  fix: pin a version tag or a digest, e.g. `FROM debian:<version>` or `FROM debian@sha256:<digest>`"]);
    let mut ctx = ctx();
    ctx.args.insert("IMG".to_string(), "debian:12".to_string());
    assert_eq!(found_with(text, &ctx), [], "image.toml args override ARG defaults");
    assert_eq!(
        found_with("FROM build\nUSER 1\nFROM debian:12 AS build\nUSER 1\n", &ctx)[0],
        (1, "unpinned-base"),
        "a stage named later is an image"
    );
    let mut ctx = self::ctx();
    ctx.parents.insert("BASE_IMAGE".to_string(), Inherited { user: Some(User::NonRoot), healthcheck: false });
    assert_eq!(found_with("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n", &ctx), [], "in-repo parents are pinned by digest");
}

#[test]
fn hardcoded_arch() {
    let head = "FROM debian:12\nUSER 1\n";
    let cases: [(&str, Vec<(usize, &str)>); 8] = [
        ("RUN curl -fsSLo /t.tgz https://example.test/tool-linux-amd64.tgz", vec![(3, "hardcoded-arch")]),
        ("RUN ln -s /usr/lib/x86_64-linux-gnu/libz.so /lib/", vec![(3, "hardcoded-arch")]),
        ("ADD --checksum=sha256:0123 https://example.test/aarch64/tool /usr/bin/", vec![(3, "hardcoded-arch")]),
        ("COPY bin/arm64/tool /usr/bin/", vec![(3, "hardcoded-arch")]),
        ("ARG TARGETARCH\nRUN curl -o /t https://example.test/tool-${TARGETARCH}", vec![]),
        (
            "RUN case \"$TARGETARCH\" in amd64) a=x86_64;; arm64) a=aarch64;; esac; curl https://x.test/$a/x86_64",
            vec![],
        ),
        ("RUN dpkg --add-architecture arm64 && echo amd64", vec![]),
        ("RUN curl https://example.test/tool-arm64v8.tgz", vec![]),
    ];
    let mut ctx = ctx();
    ctx.files = BTreeSet::from(["bin".to_string(), "bin/arm64".to_string(), "bin/arm64/tool".to_string()]);
    for (text, expected) in cases {
        assert_eq!(found_with(&format!("{head}{text}\n"), &ctx), expected, "{text}");
    }
}

#[test]
fn secret_in_arg() {
    let text = "ARG NPM_TOKEN\nFROM debian:12\nARG VERSION=1 DB_PASSWORD=x\nENV API_SECRET=s GPG_KEY=abc KEYBOARD=us\nENV LEGACY_TOKEN value\nUSER 1\n";
    assert_eq!(
        found(text),
        [(1, "secret-in-arg"), (3, "secret-in-arg"), (4, "secret-in-arg"), (4, "secret-in-arg"), (5, "secret-in-arg")]
    );
    let first = &lint(Utf8Path::new("D"), text, &ctx())[0];
    assert_eq!(
        first.fix,
        "use a BuildKit secret: `RUN --mount=type=secret,id=npm_token,env=NPM_TOKEN ...` and `--secret` at build time"
    );
}

#[test]
fn package_cache() {
    let head = "FROM debian:12\nUSER 1\n";
    let cases: [(&str, Vec<(usize, &str)>); 14] = [
        ("RUN apt-get update && apt-get install -y curl", vec![(3, "package-cache")]),
        ("RUN apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*", vec![]),
        (
            "RUN --mount=type=cache,id=apt-${TARGETARCH},target=/var/cache/apt,sharing=locked apt-get install -y curl",
            vec![],
        ),
        ("RUN --mount=type=bind,target=/var/cache/apt apt-get install -y curl", vec![(3, "package-cache")]),
        ("RUN DEBIAN_FRONTEND=noninteractive sudo apt -y install curl", vec![(3, "package-cache")]),
        ("RUN pip install requests", vec![(3, "package-cache")]),
        ("RUN python3 -m pip install --no-cache-dir requests", vec![]),
        ("RUN --mount=type=cache,target=/root/.cache/pip pip3 install requests", vec![]),
        ("ENV PIP_NO_CACHE_DIR=1\nRUN pip install requests", vec![]),
        ("RUN apk add curl", vec![(3, "package-cache")]),
        ("RUN apk add --no-cache curl", vec![]),
        ("RUN npm ci && npm run build", vec![(3, "package-cache")]),
        ("RUN npm ci && npm cache clean --force", vec![]),
        ("RUN [\"apt-get\", \"install\", \"-y\", \"curl\"]", vec![(3, "package-cache")]),
    ];
    for (text, expected) in cases {
        assert_eq!(found(&format!("{head}{text}\n")), expected, "{text}");
    }
    let text = format!("{head}RUN <<EOF\napt-get update\napt-get install -y \\\n  curl\npip install x\nEOF\n");
    assert_eq!(
        messages(&text, &ctx()),
        [
            "images/t/Dockerfile:3: package-cache: `apt-get install` leaves the apt package lists in the layer\n  fix: end the same RUN with `&& rm -rf /var/lib/apt/lists/*`, or use `RUN --mount=type=cache,target=/var/cache/apt --mount=type=cache,target=/var/lib/apt`",
            "images/t/Dockerfile:3: package-cache: `pip install` keeps pip's download cache in the layer\n  fix: add `--no-cache-dir`, or use `RUN --mount=type=cache,target=/root/.cache/pip`",
        ]
    );
}

#[test]
fn lines_after_continuations_and_heredocs() {
    // Heredoc bodies hold instruction-like text that must not count as instructions.
    let text = "FROM debian:12\nRUN apt-get update \\\n  # comment\n && apt-get install -y curl \\\n && rm -rf /var/lib/apt/lists/*\nARG GITHUB_TOKEN\nRUN <<EOF\nUSER root\nARG NPM_TOKEN\nEOF\nCOPY <<-EOF /etc/motd\n\tENV API_PASSWORD=x\n\tEOF\nUSER 1000\nENV DB_PASSWORD=x\n";
    assert_eq!(found(text), [(6, "secret-in-arg"), (15, "secret-in-arg")]);
}

#[test]
fn missing_source() {
    let mut ctx = ctx();
    ctx.files = ["site", "site/index.html", "site/logs", "site/logs/a.log", "app.py", "notes.md", "docs", "docs/x.md"]
        .into_iter()
        .map(str::to_string)
        .collect();
    ctx.dockerignore = Some("# logs stay out\nsite/logs\n*.md\n!docs/*.md\n".to_string());
    let head = "FROM debian:12\nUSER 1\n";
    let cases: [(&str, Vec<(usize, &str)>); 12] = [
        ("COPY site/ app.py ./ /srv/", vec![]),
        ("COPY ./site/../app.py /srv/", vec![]),
        ("COPY [\"app.py\", \"/srv/\"]", vec![]),
        ("COPY missing.txt /srv/", vec![(3, "missing-source")]),
        ("COPY site/logs /srv/", vec![(3, "missing-source")]),
        ("COPY notes.md /srv/", vec![(3, "missing-source")]),
        ("COPY docs /srv/", vec![]),
        ("COPY *.py /srv/", vec![]),
        ("COPY *.txt /srv/", vec![(3, "missing-source")]),
        ("COPY --from=0 /nowhere /srv/\nADD --checksum=sha256:0123 https://example.test/x.tgz /srv/", vec![]),
        ("ARG WHERE\nCOPY ${WHERE}/x /srv/\nCOPY <<EOF /srv/x\nhi\nEOF", vec![]),
        ("ARG TARGETARCH\nADD rootfs/${TARGETARCH}.tar /", vec![(4, "missing-source")]),
    ];
    for (text, expected) in cases {
        assert_eq!(found_with(&format!("{head}{text}\n"), &ctx), expected, "{text}");
    }
    let messages = messages(&format!("{head}COPY site/logs missing /srv/\n"), &ctx);
    assert_eq!(
        messages,
        [
            "images/t/Dockerfile:3: missing-source: COPY source `site/logs` is excluded by .dockerignore (line 2: `site/logs`)\n  fix: add `!site/logs` to .dockerignore after line 2, or remove that pattern",
            "images/t/Dockerfile:3: missing-source: COPY source `missing` is not in the build context images/t\n  fix: create images/t/missing or fix the path: sources are relative to the context",
        ]
    );
}

#[test]
fn generated_rootfs_tarballs_count_as_present() {
    let text =
        "FROM scratch\nARG TARGETARCH\nARG TARGETVARIANT\nADD rootfs/${TARGETARCH}${TARGETVARIANT}.tar /\nUSER 1\n";
    let mut ctx = ctx();
    ctx.platforms.push("linux/arm/v7".to_string());
    assert_eq!(
        messages(text, &ctx)[0].lines().next().unwrap(),
        "images/t/Dockerfile:4: missing-source: ADD source `rootfs/${TARGETARCH}${TARGETVARIANT}.tar` for linux/amd64 is not in the build context images/t"
    );
    ctx.rootfs = true;
    assert_eq!(found_with(text, &ctx), []);
    ctx.dockerignore = Some("rootfs/armv7.tar\n".to_string());
    assert_eq!(found_with(text, &ctx), [(4, "missing-source")], ".dockerignore still applies");
}

#[test]
fn allow_turns_rules_off() {
    let mut ctx = ctx();
    ctx.allow = vec![Rule::RootUser, Rule::UnpinnedBase];
    assert_eq!(found_with("FROM debian\nARG SECRET\n", &ctx), [(2, "secret-in-arg")]);
}

#[test]
fn rule_ids_round_trip() {
    for rule in Rule::ALL {
        assert_eq!(Rule::from_id(rule.id()), Some(rule));
        assert_eq!(serde_json::to_value(rule).unwrap(), rule.id());
    }
    assert_eq!(Rule::from_id("root"), None);
}

#[test]
fn wildcards_for_copy_sources() {
    let glob = Glob::new("src/*.r[st]", false);
    assert!(glob.matches("src/a.rs") && glob.matches("src/b.rt"));
    assert!(!glob.matches("src/a/b.rs") && !glob.matches("src/a.ru"));
    assert!(!Glob::new("**.rs", false).matches("a/b.rs"), "`**` is `*` for COPY");
    assert!(Glob::new("[^a]?", false).matches("bc") && !Glob::new("[^a]?", false).matches("ac"));
    // Backtracking alone would take longer than the age of the universe on these.
    let name = "a".repeat(200);
    assert!(!Glob::new(&format!("{}b", "*a".repeat(40)), false).matches(&name));
    assert!(Glob::new(&format!("{}a", "*a".repeat(40)), false).matches(&name));
    let dirs = format!("{}b", "**/".repeat(50));
    assert!(!Glob::new(&dirs, true).matches(&format!("{}a", "x/".repeat(100))));
    assert!(Glob::new(&dirs, true).matches(&format!("{}b", "x/".repeat(100))));
    assert!(!Glob::new(&"*".repeat(5000), false).matches(""), "longer than any path");
}

#[test]
fn in_repo_images_named_literally() {
    let mut ctx = ctx();
    ctx.in_repo.insert("localhost:5000/acme/base".to_string(), "BASE_IMAGE".to_string());
    ctx.parents.insert("BASE_IMAGE".to_string(), Inherited { user: Some(User::NonRoot), healthcheck: false });
    let text = "FROM localhost:5000/acme/base:main\nRUN true\n";
    assert_eq!(messages(text, &ctx), ["images/t/Dockerfile:1: in-repo-by-name: FROM names the in-repo image `localhost:5000/acme/base:main` by name, so the build takes whatever that tag holds, not the parent this run builds\n  fix: declare `ARG BASE_IMAGE` before the first FROM and write `FROM ${BASE_IMAGE}`: `build` passes the parent pinned by digest"]);
    // What the parent hands down still counts: USER 1000 there, so no root-user here.
    assert_eq!(
        found_with("ARG B=LOCALHOST:5000/acme/base\nFROM $B\n", &ctx),
        [(2, "in-repo-by-name")],
        "not unpinned-base"
    );
    ctx.parents.insert("BASE_IMAGE".to_string(), Inherited::default());
    assert_eq!(found_with(text, &ctx), [(1, "root-user"), (1, "in-repo-by-name")]);
    let text = "FROM scratch\nCOPY --from=localhost:5000/acme/base:main /a /a\nRUN --mount=from=localhost:5000/acme/base@sha256:0123,target=/b true\nUSER 1\n";
    let found = messages(text, &ctx);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].ends_with("fix: declare `ARG BASE_IMAGE` before the first FROM, add `FROM ${BASE_IMAGE} AS base` and use `--from=base`: `build` passes the parent pinned by digest"), "{}", found[0]);
    assert!(found[1].starts_with("images/t/Dockerfile:3: in-repo-by-name: RUN --mount=from names"), "{}", found[1]);
    // Through the build arg it is pinned; another registry is external.
    let text = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE} AS base\nFROM other.test/acme/base:main\nCOPY --from=${BASE_IMAGE} /a /a\nUSER 1\n";
    assert_eq!(found_with(text, &ctx), []);
}

#[test]
fn unpinned_copy_from() {
    let head = "FROM debian:12 AS build\nUSER 1\n";
    let cases: [(&str, Vec<(usize, &str)>); 8] = [
        ("COPY --from=composer:2 /usr/bin/composer /usr/bin/", vec![(3, "unpinned-copy-from")]),
        ("COPY --from=composer:2@sha256:0123 /usr/bin/composer /usr/bin/", vec![]),
        ("ADD --from=tools.test/t /x /x", vec![(3, "unpinned-copy-from")]),
        (
            "RUN --mount=type=bind,from=node:20,source=/usr/local/bin/node,target=/n /n -v",
            vec![(3, "unpinned-copy-from")],
        ),
        ("RUN --mount=type=cache,target=/root/.cache true", vec![]),
        ("COPY --from=build /a /b", vec![]),
        ("COPY --from=0 /a /b", vec![]),
        ("ARG TOOLS\nCOPY --from=${TOOLS} /a /b", vec![]),
    ];
    for (text, expected) in cases {
        assert_eq!(found(&format!("{head}{text}\n")), expected, "{text}");
    }
    assert_eq!(messages(&format!("{head}COPY --from=composer:2 /c /c\n"), &ctx()), ["images/t/Dockerfile:3: unpinned-copy-from: COPY --from image `composer:2` is not pinned by digest, so what it brings changes when the tag moves\n  fix: pin it: `composer:2@sha256:<digest>` (`docker buildx imagetools inspect composer:2` shows the digest)"]);
}

#[test]
fn add_checksum() {
    let head = "FROM debian:12\nUSER 1\n";
    let cases: [(&str, Vec<(usize, &str)>); 6] = [
        ("ADD https://example.test/app-1.2.tar.gz /opt/", vec![(3, "add-checksum")]),
        ("ADD --checksum=sha256:0123 https://example.test/app-1.2.tar.gz /opt/", vec![]),
        ("ADD https://example.test/app.git#v1.2 /src", vec![]),
        ("ADD git@example.test:app.git /src", vec![]),
        ("ADD app.tar.gz /opt/", vec![(3, "missing-source")]),
        ("COPY https://example.test/x /x", vec![]),
    ];
    for (text, expected) in cases {
        assert_eq!(found(&format!("{head}{text}\n")), expected, "{text}");
    }
    let text = format!("{head}ARG TARGETARCH\nADD https://example.test/app-${{TARGETARCH}}.tgz /opt/\n");
    assert_eq!(messages(&text, &ctx()), ["images/t/Dockerfile:4: add-checksum: ADD downloads `https://example.test/app-${TARGETARCH}.tgz` without `--checksum`, so a changed or tampered file goes unnoticed\n  fix: the file differs per architecture: download it in a `RUN` that checks each architecture's sha256 (`case \"$TARGETARCH\"` and `sha256sum -c`)"]);
}

#[test]
fn hardcoded_arch_as_vendors_spell_it() {
    let head = "FROM debian:12\nUSER 1\n";
    let cases: [(&str, Vec<(usize, &str)>); 17] = [
        ("RUN curl -fsSLO https://nodejs.test/dist/v20.11.1/node-v20.11.1-linux-x64.tar.xz", vec![(3, "hardcoded-arch")]),
        ("RUN curl -o r.tgz -L https://example.test/actions-runner-linux-x64-2.317.0.tar.gz", vec![(3, "hardcoded-arch")]),
        ("RUN wget https://example.test/geckodriver-v0.34.0-linux64.tar.gz", vec![(3, "hardcoded-arch")]),
        ("RUN ln -s /usr/lib/i386-linux-gnu/libc.so /lib/", vec![(3, "hardcoded-arch")]),
        ("RUN curl -o /t https://example.test/tool_armhf.deb", vec![(3, "hardcoded-arch")]),
        ("RUN dpkg --add-architecture i386", vec![]),
        ("RUN curl -o /t https://example.test/linux-x64z/tool", vec![]),
        (
            "RUN case \"$TARGETARCH\" in amd64) a=x64;; arm64) a=arm64;; esac; curl -O https://nodejs.test/node-linux-$a.tar.xz",
            vec![],
        ),
        ("ADD --checksum=sha256:0123 https://example.test/krallin/tini/releases/download/v0.19.0/tini /tini", vec![(3, "hardcoded-arch")]),
        ("ARG TARGETARCH\nADD --checksum=sha256:0123 https://example.test/tini/releases/download/v0.19.0/tini-${TARGETARCH} /tini", vec![]),
        ("ADD --checksum=sha256:0123 https://example.test/app/releases/download/v1/app-1.0.tar.gz /src/", vec![]),
        ("ADD --checksum=sha256:0123 https://example.test/app/archive/v1 /src/", vec![]),
        ("RUN CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -o app .", vec![(3, "hardcoded-arch")]),
        ("ARG TARGETARCH\nRUN GOARCH=$TARGETARCH go build -o app .", vec![]),
        ("RUN GOARCH=amd64p32 true", vec![]),
        ("ENV LD_LIBRARY_PATH=/opt/lib:/usr/lib/x86_64-linux-gnu", vec![(3, "hardcoded-arch")]),
        ("ENV ARCH=amd64 PATH=/opt/tool/bin:$PATH", vec![]),
    ];
    for (text, expected) in cases {
        assert_eq!(found(&format!("{head}{text}\n")), expected, "{text}");
    }
    let text = format!(
        "{head}ADD --checksum=sha256:0123 https://example.test/krallin/tini/releases/download/v0.19.0/tini /tini\n"
    );
    assert_eq!(messages(&text, &ctx()), ["images/t/Dockerfile:3: hardcoded-arch: ADD downloads the release binary `tini` from `https://example.test/krallin/tini/releases/download/v0.19.0/tini`: one architecture's build, on every platform\n  fix: download the release's asset for each architecture: `ARG TARGETARCH` and `ADD <release>/tini-${TARGETARCH} <dest>` (or a `RUN` with `case \"$TARGETARCH\"` where the names differ)"]);
    let text = format!("{head}RUN curl -fsSLO https://nodejs.test/dist/node-v20.11.1-linux-x64.tar.xz\n");
    assert_eq!(
        lint(Utf8Path::new("D"), &text, &ctx())[0].message,
        "RUN hard-codes `x64` in `https://nodejs.test/dist/node-v20.11.1-linux-x64.tar.xz`"
    );
}

#[test]
fn package_cache_of_node_and_ruby_tools() {
    let head = "FROM debian:12\nUSER 1\n";
    let cases: [(&str, Vec<(usize, &str)>); 24] = [
        ("RUN npm install --cache /tmp/npm-cache", vec![(3, "package-cache")]),
        ("RUN --mount=type=cache,target=/tmp/npm-cache npm install --cache /tmp/npm-cache", vec![]),
        ("RUN npm ci --cache=/tmp/npm-cache && rm -rf /tmp/npm-cache", vec![]),
        ("RUN npm ci --cache /tmp/npm-cache && rm -rf /tmp/*", vec![]),
        ("RUN --mount=type=cache,target=/root/.npm npm ci --cache /tmp/npm-cache", vec![(3, "package-cache")]),
        ("RUN yarn install --frozen-lockfile", vec![(3, "package-cache")]),
        ("RUN yarn", vec![(3, "package-cache")]),
        ("RUN yarn install --frozen-lockfile && yarn cache clean", vec![]),
        ("RUN --mount=type=cache,target=/usr/local/share/.cache/yarn yarn install", vec![]),
        ("RUN yarn install --cache-folder /tmp/y && rm -rf /tmp/y", vec![]),
        ("RUN yarn build", vec![]),
        ("RUN pnpm install --frozen-lockfile", vec![(3, "package-cache")]),
        ("RUN --mount=type=cache,id=pnpm,target=/pnpm/store pnpm install --frozen-lockfile", vec![]),
        ("RUN pnpm install && pnpm store prune", vec![]),
        ("RUN pnpm install --store-dir /tmp/store && rm -rf /tmp/store", vec![]),
        ("RUN pnpm run build", vec![]),
        ("RUN corepack enable && pnpm i", vec![(3, "package-cache")]),
        ("RUN gem install bundler:2.5.6", vec![(3, "package-cache")]),
        ("RUN gem install bundler:2.5.6 && rm -rf \"$(gem env gemdir)\"/cache", vec![]),
        ("RUN bundle install && rm -rf /usr/local/bundle/cache/*.gem", vec![]),
        ("RUN bundle install", vec![(3, "package-cache")]),
        ("RUN --mount=type=cache,target=/usr/local/bundle/cache bundle install", vec![]),
        ("RUN bundle exec rake assets:precompile", vec![]),
        ("RUN gem list", vec![]),
    ];
    for (text, expected) in cases {
        assert_eq!(found(&format!("{head}{text}\n")), expected, "{text}");
    }
    let text = format!("{head}RUN yarn && pnpm add x && gem install rails\n");
    let fixes: Vec<String> = lint(Utf8Path::new("D"), &text, &ctx())
        .into_iter()
        .map(|f| format!("{}\n  fix: {}", f.message, f.fix))
        .collect();
    assert_eq!(
        fixes,
        [
            "`yarn` keeps yarn's cache in the layer\n  fix: use `RUN --mount=type=cache,target=/usr/local/share/.cache/yarn` (yarn 1 as root), or end the same RUN with `&& yarn cache clean`",
            "`pnpm add` keeps pnpm's store in the layer\n  fix: use `RUN --mount=type=cache,target=/root/.local/share/pnpm/store` (or `--store-dir` on a cache mount), or end the same RUN with `&& pnpm store prune`",
            "`gem install` keeps the downloaded .gem files in the layer\n  fix: end the same RUN with `&& rm -rf \"$(gem env gemdir)\"/cache`, or use `RUN --mount=type=cache,target=/usr/local/bundle/cache`",
        ]
    );
}

#[test]
fn healthcheck_hints_fit_the_service() {
    let fix = |text: &str| {
        let findings = lint(Utf8Path::new("D"), text, &ctx());
        findings.into_iter().find(|f| f.rule == Rule::Healthcheck).map(|f| f.fix).unwrap_or_default()
    };
    assert_eq!(
        fix("FROM debian:12.5\nRUN apt-get install -y pgbouncer && rm -rf /var/lib/apt/lists/*\nUSER 70\nEXPOSE 6432\n"),
        "add e.g. `HEALTHCHECK CMD pg_isready -h 127.0.0.1 -p 6432 || exit 1` (pg_isready comes with the PostgreSQL client package)",
        "PgBouncer speaks the PostgreSQL protocol"
    );
    assert_eq!(
        fix("FROM postgres:16.2\nUSER postgres\nEXPOSE 5432/tcp\n"),
        "add e.g. `HEALTHCHECK CMD pg_isready -h 127.0.0.1 -p 5432 || exit 1`"
    );
    assert_eq!(
        fix("FROM debian:12.5 AS build\nRUN true\nFROM build\nRUN apt-get install -y curl && rm -rf /var/lib/apt/lists/*\nUSER 1\nEXPOSE 9999 3000\n"),
        "add e.g. `HEALTHCHECK CMD curl -fsS -o /dev/null http://127.0.0.1:3000/ || exit 1`",
        "an HTTP port, probed with the curl the image has"
    );
    assert_eq!(
        fix("FROM nginx:1.27-alpine\nUSER 101\nEXPOSE 8443\n"),
        "add e.g. `HEALTHCHECK CMD wget -q --no-check-certificate -O /dev/null https://127.0.0.1:8443/ || exit 1`"
    );
    assert_eq!(
        fix("FROM redis:7.2-alpine\nUSER 999\nEXPOSE 6379\n"),
        "add a TCP probe, e.g. `HEALTHCHECK CMD nc -z 127.0.0.1 6379 || exit 1`",
        "busybox has nc"
    );
    assert_eq!(
        fix("FROM debian:12.5\nUSER 1\nEXPOSE 1883\n"),
        "add a TCP probe, e.g. `HEALTHCHECK CMD bash -c '</dev/tcp/127.0.0.1/1883' || exit 1` (or the service's own client)",
        "not HTTP: no wget"
    );
    assert_eq!(
        fix("FROM php:8.3-fpm-alpine\nUSER 82\nEXPOSE 9000\n"),
        "add a TCP probe, e.g. `HEALTHCHECK CMD nc -z 127.0.0.1 9000 || exit 1`",
        "php-fpm speaks FastCGI"
    );
}

#[test]
fn runtime_env_defaults_are_dropped_not_made_build_secrets() {
    let text = "FROM debian:12.5 AS build\nENV BUILD_TOKEN=x\nFROM postgres:16.2\nARG DB_PASSWORD\nENV POSTGRES_PASSWORD=change_me\nUSER postgres\n";
    let fixes: Vec<(usize, String)> =
        lint(Utf8Path::new("D"), text, &ctx()).into_iter().map(|f| (f.line, f.fix)).collect();
    assert_eq!(
        fixes,
        [
            (2, "use a BuildKit secret: `RUN --mount=type=secret,id=build_token,env=BUILD_TOKEN ...` and `--secret` at build time".to_string()),
            (4, "use a BuildKit secret: `RUN --mount=type=secret,id=db_password,env=DB_PASSWORD ...` and `--secret` at build time".to_string()),
            (5, "drop the default: leave `POSTGRES_PASSWORD` out of the image and pass it at run time (`docker run -e POSTGRES_PASSWORD=...`, or a mounted secret file)".to_string()),
        ]
    );
}

#[test]
fn scratch_images_check_their_own_health() {
    let text = "FROM debian:12.5 AS build\nRUN true\nFROM scratch\nCOPY --from=build /bin/true /server\nUSER 1\nEXPOSE 8080\nENTRYPOINT [\"/server\", \"--listen\", \":8080\"]\n";
    let findings = lint(Utf8Path::new("D"), text, &ctx());
    assert_eq!(findings[0].fix, "the image is built FROM scratch, with no shell or tools to probe with: give `/server` a health check mode, e.g. `HEALTHCHECK CMD [\"/server\", \"healthcheck\"]`");
    let text = "FROM scratch AS base\nFROM base\nUSER 1\nEXPOSE 8080\n";
    assert!(lint(Utf8Path::new("D"), text, &ctx())[0].fix.contains("give `/app` a health check mode"));
}

#[test]
fn windows_sources_with_the_backtick_escape() {
    let mut ctx = ctx();
    ctx.files = ["app", "app/app.exe"].into_iter().map(str::to_string).collect();
    let head = "FROM windows.example.test/servercore:ltsc2022\nUSER ContainerUser\n";
    assert_eq!(found_with(&format!("# escape=`\n{head}COPY app\\ C:\\app\\\n"), &ctx), []);
    assert_eq!(found_with(&format!("# escape=`\n{head}COPY app\\app.exe C:\\app\\\n"), &ctx), []);
    assert_eq!(found_with(&format!("# escape=`\n{head}COPY app\\nope.exe C:\\app\\\n"), &ctx), [(4, "missing-source")]);
    assert_eq!(found_with(&format!("{head}COPY app/app.exe C:/app/\n"), &ctx), []);
}

#[test]
fn a_moved_cache_is_fixed_where_it_went() {
    let text = "FROM node:20.11.1\nUSER 1\nRUN npm install --cache=/var/cache/npm typescript\n";
    let finding = &lint(Utf8Path::new("D"), text, &ctx())[0];
    assert_eq!(finding.message, "`npm install` keeps npm's cache in the layer, in /var/cache/npm");
    assert_eq!(
        finding.fix,
        "use `RUN --mount=type=cache,target=/var/cache/npm`, or end the same RUN with `&& rm -rf /var/cache/npm`"
    );
    let text = "FROM node:20.11.1\nUSER 1\nRUN yarn install --cache-folder /y\n";
    assert!(lint(Utf8Path::new("D"), text, &ctx())[0].fix.ends_with("`&& rm -rf /y`"));
}
