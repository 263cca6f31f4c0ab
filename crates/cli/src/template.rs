//! A subset of Go's `text/template`, evaluated against `serde_json::Value`.
//!
//! Docker's `--format` / `-f` flags take Go templates, and scripts written for Docker
//! depend on them (`{{.State.Pid}}`, `{{json .Config.Labels}}`, `table {{.ID}}\t{{.Names}}`).
//! We implement the parts people actually use: field chains, `.`, string and number
//! literals, pipelines with `|`, `if`/`else if`/`else`/`end`, `range` (with `else`),
//! `with`, trim markers `{{-`/`-}}`, Go's builtins `index`, `len`, `eq`, `ne`, `not`,
//! `and`, `or`, `print`, `printf` (%s %d %v %q), `println`, and Docker's own functions
//! `json`, `join`, `split`, `upper`, `lower`, `title`, `truncate`, `pad`.
//!
//! Values print as Go's `fmt` prints them: maps as `map[k:v]` with sorted keys, lists as
//! `[a b]`, null as `<nil>`, a missing map key as `<no value>`.
//!
//! A field that is applied to arguments (`{{.Label "com.example"}}`) is treated as a
//! method call on a map: the argument is looked up in it. The `ps` formatter exposes
//! `Label` as the container's label map for exactly this.

use serde_json::Value;
use std::fmt::Write as _;

/// A parse or execution error, worded like Go's `template:` errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TemplateError {}

type Result<T> = std::result::Result<T, TemplateError>;

fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(TemplateError(msg.into()))
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    /// `.` or `.A.B` (empty path for `.`)
    Field(Vec<String>),
    /// `$` or `$x.A`
    Var(String, Vec<String>),
    Str(String),
    Num(f64, String),
    Bool(bool),
    Ident(String),
    Sub(Box<Pipeline>),
    /// `(pipeline).Field.Sub`
    Chain(Box<Pipeline>, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
struct Command {
    args: Vec<Operand>,
}

#[derive(Debug, Clone, PartialEq)]
struct Pipeline {
    /// Declared variables: `$v :=` or `$k, $v :=` (range only).
    decl: Vec<String>,
    cmds: Vec<Command>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Action(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
}

/// A parsed template, ready to be executed many times.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

enum Tok {
    Text(String),
    Action(String),
}

fn lex(src: &str) -> Result<Vec<Tok>> {
    let mut toks = Vec::new();
    let mut rest = src;
    let mut trim_next_text = false;
    while let Some(start) = rest.find("{{") {
        let mut text = &rest[..start];
        if trim_next_text {
            text = text.trim_start();
        }
        let after = &rest[start + 2..];
        let trim_left = after.starts_with("- ") || after.starts_with("-\t") || after == "-";
        if trim_left {
            text = text.trim_end();
        }
        if !text.is_empty() {
            toks.push(Tok::Text(text.to_string()));
        }
        let body_start = if trim_left { 1 } else { 0 };
        let Some(end) = find_action_end(&after[body_start..]) else {
            return err("template: unclosed action");
        };
        let mut body = &after[body_start..body_start + end];
        trim_next_text = false;
        if body.ends_with(" -") || body.ends_with("\t-") {
            body = &body[..body.len() - 1];
            trim_next_text = true;
        }
        let body = body.trim();
        if !(body.starts_with("/*") && body.ends_with("*/")) {
            toks.push(Tok::Action(body.to_string()));
        }
        rest = &after[body_start + end + 2..];
    }
    let mut text = rest;
    if trim_next_text {
        text = text.trim_start();
    }
    if !text.is_empty() {
        toks.push(Tok::Text(text.to_string()));
    }
    Ok(toks)
}

/// Find the `}}` closing an action, skipping over quoted strings.
fn find_action_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if i + 1 < b.len() && b[i + 1] == b'}' => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

#[derive(Debug, Clone, PartialEq)]
enum Word {
    Str(String),
    Pipe,
    Open,
    Close,
    /// `.A.B` written right after `)`: a field of the parenthesized value.
    FieldOf(String),
    Other(String),
}

fn words(s: &str) -> Result<Vec<Word>> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' {
            let mut v = String::new();
            i += 1;
            loop {
                if i >= chars.len() {
                    return err("template: unterminated quoted string");
                }
                match chars[i] {
                    '"' => break,
                    '\\' if i + 1 < chars.len() => {
                        i += 1;
                        v.push(match chars[i] {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            other => other,
                        });
                    }
                    other => v.push(other),
                }
                i += 1;
            }
            i += 1;
            out.push(Word::Str(v));
        } else if c == '`' {
            let mut v = String::new();
            i += 1;
            while i < chars.len() && chars[i] != '`' {
                v.push(chars[i]);
                i += 1;
            }
            i += 1;
            out.push(Word::Str(v));
        } else if c == '|' {
            out.push(Word::Pipe);
            i += 1;
        } else if c == '(' {
            out.push(Word::Open);
            i += 1;
        } else if c == ')' {
            out.push(Word::Close);
            i += 1;
            if chars.get(i) == Some(&'.') {
                let mut v = String::new();
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !matches!(chars[i], '|' | '(' | ')' | '"')
                {
                    v.push(chars[i]);
                    i += 1;
                }
                out.push(Word::FieldOf(v));
            }
        } else {
            let mut v = String::new();
            while i < chars.len()
                && !chars[i].is_whitespace()
                && !matches!(chars[i], '|' | '(' | ')' | '"')
            {
                v.push(chars[i]);
                i += 1;
            }
            out.push(Word::Other(v));
        }
    }
    Ok(out)
}

fn parse_pipeline(ws: &[Word]) -> Result<Pipeline> {
    let mut pos = 0;
    let mut decl = Vec::new();
    if let (Some(Word::Other(v)), Some(Word::Other(op))) = (ws.first(), ws.get(1)) {
        if v.starts_with('$') && (op == ":=" || op == "=") {
            decl.push(v.clone());
            pos = 2;
        } else if let (Some(k), Some(Word::Other(op2))) = (v.strip_suffix(','), ws.get(2)) {
            if k.starts_with('$') && op.starts_with('$') && op2 == ":=" {
                decl.push(k.to_string());
                decl.push(op.clone());
                pos = 3;
            }
        }
    }
    let (p, used) = parse_cmds(&ws[pos..])?;
    if pos + used != ws.len() {
        return err("template: unexpected \")\" in command");
    }
    Ok(Pipeline { decl, cmds: p })
}

fn parse_cmds(ws: &[Word]) -> Result<(Vec<Command>, usize)> {
    let mut cmds = Vec::new();
    let mut cur = Vec::new();
    let mut i = 0;
    while i < ws.len() {
        match &ws[i] {
            Word::Pipe => {
                if cur.is_empty() {
                    return err("template: missing command before |");
                }
                cmds.push(Command {
                    args: std::mem::take(&mut cur),
                });
            }
            Word::Close => break,
            Word::Open => {
                let (sub, used) = parse_cmds(&ws[i + 1..])?;
                if ws.get(i + 1 + used) != Some(&Word::Close) {
                    return err("template: unclosed left paren");
                }
                let p = Box::new(Pipeline {
                    decl: Vec::new(),
                    cmds: sub,
                });
                i += used + 1;
                if let Some(Word::FieldOf(path)) = ws.get(i + 1) {
                    cur.push(Operand::Chain(p, split_path(path)));
                    i += 1;
                } else {
                    cur.push(Operand::Sub(p));
                }
            }
            Word::Str(s) => cur.push(Operand::Str(s.clone())),
            Word::FieldOf(f) => return err(format!("template: unexpected {f:?} in operand")),
            Word::Other(w) => cur.push(parse_operand(w)?),
        }
        i += 1;
    }
    if cur.is_empty() {
        if cmds.is_empty() {
            return err("template: missing value for command");
        }
        return err("template: missing command after |");
    }
    cmds.push(Command { args: cur });
    Ok((cmds, i))
}

fn split_path(s: &str) -> Vec<String> {
    s.split('.')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_operand(w: &str) -> Result<Operand> {
    if w.starts_with('.') {
        return Ok(Operand::Field(split_path(w)));
    }
    if let Some(rest) = w.strip_prefix('$') {
        let (name, path) = match rest.find('.') {
            Some(i) => (&rest[..i], split_path(&rest[i..])),
            None => (rest, Vec::new()),
        };
        return Ok(Operand::Var(format!("${name}"), path));
    }
    if w == "true" || w == "false" {
        return Ok(Operand::Bool(w == "true"));
    }
    if w == "nil" {
        return err("template: nil is not a command");
    }
    if w.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+') {
        return match w.parse::<f64>() {
            Ok(n) => Ok(Operand::Num(n, w.to_string())),
            Err(_) => err(format!("template: bad number syntax: {w:?}")),
        };
    }
    if w.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return Ok(Operand::Ident(w.to_string()));
    }
    err(format!("template: unexpected {w:?} in command"))
}

enum Control {
    End,
    Else(Option<Pipeline>),
}

fn parse_nodes(toks: &[Tok], pos: &mut usize) -> Result<(Vec<Node>, Option<Control>)> {
    let mut nodes = Vec::new();
    while *pos < toks.len() {
        let tok = &toks[*pos];
        *pos += 1;
        match tok {
            Tok::Text(t) => nodes.push(Node::Text(t.clone())),
            Tok::Action(a) => {
                let ws = words(a)?;
                let head = match ws.first() {
                    Some(Word::Other(h)) => h.as_str(),
                    None => return err("template: missing value for command"),
                    _ => "",
                };
                match head {
                    "end" => return Ok((nodes, Some(Control::End))),
                    "else" => {
                        if ws.len() > 1 {
                            let Word::Other(k) = &ws[1] else {
                                return err("template: unexpected token after else");
                            };
                            if k != "if" {
                                return err(format!("template: unexpected {k:?} after else"));
                            }
                            return Ok((
                                nodes,
                                Some(Control::Else(Some(parse_pipeline(&ws[2..])?))),
                            ));
                        }
                        return Ok((nodes, Some(Control::Else(None))));
                    }
                    "if" | "range" | "with" => {
                        let p = parse_pipeline(&ws[1..])?;
                        nodes.push(parse_block(head, p, toks, pos)?);
                    }
                    _ => nodes.push(Node::Action(parse_pipeline(&ws)?)),
                }
            }
        }
    }
    Ok((nodes, None))
}

fn parse_block(kind: &str, p: Pipeline, toks: &[Tok], pos: &mut usize) -> Result<Node> {
    let (body, ctl) = parse_nodes(toks, pos)?;
    let alt = match ctl {
        None => return err(format!("template: unexpected EOF in {kind}")),
        Some(Control::End) => Vec::new(),
        Some(Control::Else(None)) => {
            let (alt, ctl) = parse_nodes(toks, pos)?;
            if !matches!(ctl, Some(Control::End)) {
                return err("template: expected end after else");
            }
            alt
        }
        Some(Control::Else(Some(cond))) => vec![parse_block("if", cond, toks, pos)?],
    };
    Ok(match kind {
        "if" => Node::If(p, body, alt),
        "range" => Node::Range(p, body, alt),
        _ => Node::With(p, body, alt),
    })
}

impl Template {
    /// Parse a template; errors read like Go's (`template: ...`).
    pub fn parse(src: &str) -> Result<Template> {
        let toks = lex(src)?;
        let mut pos = 0;
        let (nodes, ctl) = parse_nodes(&toks, &mut pos)?;
        match ctl {
            None => Ok(Template { nodes }),
            Some(Control::End) => err("template: unexpected {{end}}"),
            Some(Control::Else(_)) => err("template: unexpected {{else}}"),
        }
    }

    /// Execute the template against `data`.
    pub fn execute(&self, data: &Value) -> Result<String> {
        let mut out = String::new();
        let mut vars = vec![("$".to_string(), data.clone())];
        exec_nodes(&self.nodes, data, &mut vars, &mut out)?;
        Ok(out)
    }
}

/// Parse and execute in one go.
pub fn render(src: &str, data: &Value) -> Result<String> {
    Template::parse(src)?.execute(data)
}

/// The value an evaluation produced; `Missing` is Go's "no value" for absent map keys.
#[derive(Debug, Clone)]
enum Val {
    V(Value),
    Missing,
    /// A JSON null reached through a field: Go would hold a typed nil there, which
    /// prints as "[]" (slice), "map[]" (map) or "<nil>" (pointer).
    Nil(&'static str),
}

impl Val {
    fn value(&self) -> Value {
        match self {
            Val::V(v) => v.clone(),
            Val::Missing | Val::Nil(_) => Value::Null,
        }
    }
}

/// How Go prints the nil value of the field named `key` in Docker's API types.
fn nil_for(key: &str) -> &'static str {
    const MAPS: &[&str] = &[
        "Volumes",
        "Labels",
        "ExposedPorts",
        "Ports",
        "Options",
        "Attributes",
        "DriverOpts",
        "Networks",
        "StorageOpt",
        "Sysctls",
        "Tmpfs",
        "Annotations",
        "PortBindings",
    ];
    const POINTERS: &[&str] = &[
        "Health",
        "Healthcheck",
        "IPAMConfig",
        "MemorySwappiness",
        "PidsLimit",
        "Init",
        "OomKillDisable",
        "Platform",
        "Metadata",
        "ImageManifestDescriptor",
    ];
    if MAPS.contains(&key) {
        "map[]"
    } else if POINTERS.contains(&key) {
        "<nil>"
    } else {
        "[]"
    }
}

fn truthy(v: &Val) -> bool {
    match v {
        Val::Missing | Val::Nil(_) => false,
        Val::V(v) => match v {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
        },
    }
}

fn exec_nodes(
    nodes: &[Node],
    dot: &Value,
    vars: &mut Vec<(String, Value)>,
    out: &mut String,
) -> Result<()> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => {
                let v = eval_pipeline(p, dot, vars)?;
                if p.decl.is_empty() {
                    out.push_str(&go_print(&v));
                }
            }
            Node::If(p, body, alt) => {
                let mark = vars.len();
                let v = eval_pipeline(p, dot, vars)?;
                let branch = if truthy(&v) { body } else { alt };
                exec_nodes(branch, dot, vars, out)?;
                vars.truncate(mark);
            }
            Node::With(p, body, alt) => {
                let mark = vars.len();
                let v = eval_pipeline(p, dot, vars)?;
                if truthy(&v) {
                    exec_nodes(body, &v.value(), vars, out)?;
                } else {
                    exec_nodes(alt, dot, vars, out)?;
                }
                vars.truncate(mark);
            }
            Node::Range(p, body, alt) => {
                let mark = vars.len();
                let v = eval_range_source(p, dot, vars)?;
                let items: Vec<(Value, Value)> = match v {
                    Value::Array(a) => a
                        .into_iter()
                        .enumerate()
                        .map(|(i, v)| (Value::Number(i.into()), v))
                        .collect(),
                    Value::Object(o) => {
                        let mut keys: Vec<_> = o.into_iter().collect();
                        keys.sort_by(|a, b| a.0.cmp(&b.0));
                        keys.into_iter()
                            .map(|(k, v)| (Value::String(k), v))
                            .collect()
                    }
                    Value::Null => Vec::new(),
                    other => {
                        return err(format!(
                            "template: range can't iterate over {}",
                            go_print(&Val::V(other))
                        ))
                    }
                };
                if items.is_empty() {
                    exec_nodes(alt, dot, vars, out)?;
                }
                for (key, item) in &items {
                    vars.truncate(mark);
                    match p.decl.as_slice() {
                        [v] => vars.push((v.clone(), item.clone())),
                        [k, v] => {
                            vars.push((k.clone(), key.clone()));
                            vars.push((v.clone(), item.clone()));
                        }
                        _ => {}
                    }
                    exec_nodes(body, item, vars, out)?;
                }
                vars.truncate(mark);
            }
        }
    }
    Ok(())
}

fn eval_cmds(p: &Pipeline, dot: &Value, vars: &mut Vec<(String, Value)>) -> Result<Val> {
    let mut prev: Option<Val> = None;
    for c in &p.cmds {
        prev = Some(eval_command(c, dot, vars, prev)?);
    }
    Ok(prev.unwrap_or(Val::Missing))
}

fn eval_pipeline(p: &Pipeline, dot: &Value, vars: &mut Vec<(String, Value)>) -> Result<Val> {
    let v = eval_cmds(p, dot, vars)?;
    if let Some(name) = p.decl.first() {
        vars.push((name.clone(), v.value()));
    }
    Ok(v)
}

/// A range's pipeline declares per-item variables, so it is evaluated without binding.
fn eval_range_source(p: &Pipeline, dot: &Value, vars: &mut Vec<(String, Value)>) -> Result<Value> {
    Ok(eval_cmds(p, dot, vars)?.value())
}

fn walk(mut v: Val, path: &[String]) -> Result<Val> {
    for key in path {
        v = match v {
            Val::V(Value::Object(ref o)) => match o.get(key) {
                Some(Value::Null) => Val::Nil(nil_for(key)),
                Some(x) => Val::V(x.clone()),
                // Omitted pointer fields (`omitempty`) are nil pointers in Go.
                None if nil_for(key) == "<nil>" => Val::Nil("<nil>"),
                None => Val::Missing,
            },
            Val::V(Value::Null) | Val::Missing | Val::Nil(_) => Val::Missing,
            Val::V(other) => {
                return err(format!(
                    "template: can't evaluate field {key} in type {}",
                    go_type(&other)
                ))
            }
        };
    }
    Ok(v)
}

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "interface {}",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

fn eval_operand(o: &Operand, dot: &Value, vars: &mut Vec<(String, Value)>) -> Result<Val> {
    Ok(match o {
        Operand::Field(path) => walk(Val::V(dot.clone()), path)?,
        Operand::Var(name, path) => {
            let Some((_, v)) = vars.iter().rev().find(|(n, _)| n == name) else {
                return err(format!("template: undefined variable: {name}"));
            };
            walk(Val::V(v.clone()), path)?
        }
        Operand::Str(s) => Val::V(Value::String(s.clone())),
        Operand::Num(n, raw) => Val::V(if raw.contains(['.', 'e', 'E']) {
            serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number)
        } else {
            Value::Number((*n as i64).into())
        }),
        Operand::Bool(b) => Val::V(Value::Bool(*b)),
        Operand::Sub(p) => eval_pipeline(p, dot, vars)?,
        Operand::Chain(p, path) => walk(eval_pipeline(p, dot, vars)?, path)?,
        Operand::Ident(name) => call(name, Vec::new())?,
    })
}

fn eval_command(
    c: &Command,
    dot: &Value,
    vars: &mut Vec<(String, Value)>,
    prev: Option<Val>,
) -> Result<Val> {
    let first = &c.args[0];
    let mut args = Vec::new();
    for a in &c.args[1..] {
        args.push(eval_operand(a, dot, vars)?);
    }
    if let Some(p) = prev {
        args.push(p);
    }
    match first {
        Operand::Ident(name) => call(name, args),
        Operand::Field(_) | Operand::Var(..) if !args.is_empty() => {
            // A "method call": index the map the field names with the arguments.
            let base = eval_operand(first, dot, vars)?;
            let mut all = vec![base];
            all.extend(args);
            call("index", all)
        }
        other if args.is_empty() => eval_operand(other, dot, vars),
        _ => err("template: can't give argument to non-function"),
    }
}

fn as_string(v: &Val) -> String {
    go_print(v)
}

fn call(name: &str, args: Vec<Val>) -> Result<Val> {
    let s = |v: String| Ok(Val::V(Value::String(v)));
    let need = |n: usize| -> Result<()> {
        if args.len() != n {
            return err(format!(
                "template: wrong number of args for {name}: want {n} got {}",
                args.len()
            ));
        }
        Ok(())
    };
    match name {
        "json" => {
            need(1)?;
            s(go_escape(
                &serde_json::to_string(&args[0].value()).unwrap_or_default(),
            ))
        }
        "upper" => {
            need(1)?;
            s(as_string(&args[0]).to_uppercase())
        }
        "lower" => {
            need(1)?;
            s(as_string(&args[0]).to_lowercase())
        }
        "title" => {
            need(1)?;
            let t = as_string(&args[0]);
            let mut out = String::new();
            let mut start = true;
            for ch in t.chars() {
                if start {
                    out.extend(ch.to_uppercase());
                } else {
                    out.push(ch);
                }
                start = ch.is_whitespace();
            }
            s(out)
        }
        "join" => {
            need(2)?;
            let sep = as_string(&args[1]);
            let items: Vec<String> = match args[0].value() {
                Value::Array(a) => a.into_iter().map(|v| go_print(&Val::V(v))).collect(),
                Value::Null => Vec::new(),
                other => vec![go_print(&Val::V(other))],
            };
            s(items.join(&sep))
        }
        "split" => {
            need(2)?;
            let parts = as_string(&args[0])
                .split(as_string(&args[1]).as_str())
                .map(|p| Value::String(p.to_string()))
                .collect();
            Ok(Val::V(Value::Array(parts)))
        }
        "truncate" => {
            need(2)?;
            let n = args[1].value().as_f64().unwrap_or(0.0) as usize;
            s(as_string(&args[0]).chars().take(n).collect())
        }
        "pad" => {
            need(3)?;
            let l = args[1].value().as_f64().unwrap_or(0.0) as usize;
            let r = args[2].value().as_f64().unwrap_or(0.0) as usize;
            s(format!(
                "{}{}{}",
                " ".repeat(l),
                as_string(&args[0]),
                " ".repeat(r)
            ))
        }
        "len" => {
            need(1)?;
            let n = match args[0].value() {
                Value::Array(a) => a.len(),
                Value::Object(o) => o.len(),
                Value::String(st) => st.len(),
                Value::Null => 0,
                other => return err(format!("template: len of type {}", go_type(&other))),
            };
            Ok(Val::V(Value::Number(n.into())))
        }
        "index" => {
            if args.is_empty() {
                return err("template: wrong number of args for index: want at least 1 got 0");
            }
            let mut cur = args[0].clone();
            for k in &args[1..] {
                cur = match (cur.value(), k.value()) {
                    // Docker's maps are map[string]string: a missing key is "".
                    (Value::Object(o), Value::String(key)) => o
                        .get(&key)
                        .cloned()
                        .map_or(Val::V(Value::String(String::new())), Val::V),
                    (Value::Null, _) => Val::Missing,
                    (Value::Array(a), Value::Number(n)) => {
                        let i = n.as_u64().unwrap_or(u64::MAX) as usize;
                        match a.get(i) {
                            Some(v) => Val::V(v.clone()),
                            None => {
                                return err(format!(
                                    "template: error calling index: index out of range: {i}"
                                ))
                            }
                        }
                    }
                    (other, _) => {
                        return err(format!(
                            "template: error calling index: can't index item of type {}",
                            go_type(&other)
                        ))
                    }
                };
            }
            Ok(cur)
        }
        "not" => {
            need(1)?;
            Ok(Val::V(Value::Bool(!truthy(&args[0]))))
        }
        "and" => {
            let mut last = Val::V(Value::Bool(true));
            for a in args {
                if !truthy(&a) {
                    return Ok(a);
                }
                last = a;
            }
            Ok(last)
        }
        "or" => {
            let mut last = Val::V(Value::Bool(false));
            for a in args {
                if truthy(&a) {
                    return Ok(a);
                }
                last = a;
            }
            Ok(last)
        }
        "eq" | "ne" => {
            if args.len() < 2 {
                return err(format!("template: missing argument for {name}"));
            }
            let first = norm(&args[0].value());
            let any = args[1..].iter().any(|a| norm(&a.value()) == first);
            Ok(Val::V(Value::Bool(if name == "eq" { any } else { !any })))
        }
        "print" => s(args.iter().map(as_string).collect::<Vec<_>>().join("")),
        "println" => s(args.iter().map(as_string).collect::<Vec<_>>().join(" ") + "\n"),
        "printf" => {
            if args.is_empty() {
                return err("template: wrong number of args for printf");
            }
            s(printf(&as_string(&args[0]), &args[1..]))
        }
        other => err(format!("template: function {other:?} not defined")),
    }
}

fn norm(v: &Value) -> Value {
    match v {
        Value::Number(n) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        other => other.clone(),
    }
}

fn printf(fmtstr: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut it = args.iter();
    let mut chars = fmtstr.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        // Skip width/flags.
        let mut spec = String::new();
        while let Some(&d) = chars.peek() {
            if d.is_ascii_digit() || d == '-' || d == '.' {
                spec.push(d);
                chars.next();
            } else {
                break;
            }
        }
        let Some(verb) = chars.next() else {
            out.push('%');
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(a) = it.next() else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        let text = match verb {
            'q' => serde_json::to_string(&as_string(a)).unwrap_or_default(),
            _ => as_string(a),
        };
        let width: usize = spec.trim_start_matches('-').parse().unwrap_or(0);
        if spec.starts_with('-') {
            let _ = write!(out, "{text:<width$}");
        } else {
            let _ = write!(out, "{text:>width$}");
        }
    }
    out
}

/// Go's JSON encoder escapes HTML characters; in JSON they can only occur in strings.
pub fn go_escape(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Print a value as Go's `fmt.Sprint` would for the equivalent Go value.
fn go_print(v: &Val) -> String {
    match v {
        Val::Missing => "<no value>".to_string(),
        Val::Nil(s) => s.to_string(),
        Val::V(v) => go_fmt(v),
    }
}

/// Go's `%v` for a JSON-decoded value.
pub fn go_fmt(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(u) = n.as_u64() {
                u.to_string()
            } else {
                let f = n.as_f64().unwrap_or(0.0);
                if f.fract() == 0.0 && f.abs() < 1e21 {
                    if f.abs() >= 1e21 {
                        format!("{f:e}")
                    } else {
                        format!("{f}")
                    }
                } else {
                    format!("{f}")
                }
            }
        }
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_fmt).collect::<Vec<_>>().join(" ")),
        Value::Object(o) => {
            let mut keys: Vec<_> = o.iter().collect();
            keys.sort_by(|a, b| a.0.cmp(b.0));
            let inner: Vec<String> = keys
                .into_iter()
                .map(|(k, v)| format!("{k}:{}", go_fmt(v)))
                .collect();
            format!("map[{}]", inner.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(t: &str, v: &Value) -> String {
        render(t, v).unwrap()
    }

    #[test]
    fn fields_and_dot() {
        let v = json!({"State": {"Pid": 42, "Running": true}, "Name": "/web"});
        assert_eq!(r("{{.State.Pid}}", &v), "42");
        assert_eq!(r("pid={{ .State.Pid }} {{.Name}}", &v), "pid=42 /web");
        assert_eq!(r("{{.Nope}}", &v), "<no value>");
        let n =
            json!({"HostConfig": {"Binds": null, "PidsLimit": null}, "Config": {"Volumes": null}});
        assert_eq!(r("{{.HostConfig.Binds}}", &n), "[]");
        assert_eq!(r("{{.HostConfig.PidsLimit}}", &n), "<nil>");
        assert_eq!(r("{{.Config.Volumes}}", &n), "map[]");
        assert_eq!(r("{{json .HostConfig.Binds}}", &n), "null");
        assert_eq!(r("{{.}}", &json!("x")), "x");
    }

    #[test]
    fn json_index_range_if() {
        let v = json!({"Labels": {"a": "1", "b.c": "2"}, "List": ["x", "y"], "Empty": []});
        assert_eq!(r("{{json .Labels}}", &v), r#"{"a":"1","b.c":"2"}"#);
        assert_eq!(r(r#"{{index .Labels "b.c"}}"#, &v), "2");
        assert_eq!(r("{{range .List}}[{{.}}]{{end}}", &v), "[x][y]");
        assert_eq!(r("{{range .Empty}}x{{else}}none{{end}}", &v), "none");
        assert_eq!(r("{{if .List}}yes{{else}}no{{end}}", &v), "yes");
        assert_eq!(
            r("{{if .Empty}}yes{{else if .List}}mid{{else}}no{{end}}", &v),
            "mid"
        );
        assert_eq!(r(r#"{{join .List ","}}"#, &v), "x,y");
        assert_eq!(r("{{upper (index .List 0)}}{{lower \"AB\"}}", &v), "Xab");
        assert_eq!(r("{{.List}} {{.Labels}}", &v), "[x y] map[a:1 b.c:2]");
        assert_eq!(r("{{.List | json}}", &v), r#"["x","y"]"#);
    }

    #[test]
    fn variables_and_with() {
        let v = json!({"Ports": {"80/tcp": [{"HostPort": "8080"}]}});
        assert_eq!(
            r(
                "{{range $p, $conf := .Ports}}{{$p}}:{{len $conf}}{{end}}",
                &v
            ),
            "80/tcp:1"
        );
        assert_eq!(
            r(
                "{{range $i, $e := split \"a,b\" \",\"}}{{$i}}{{$e}}{{end}}",
                &v
            ),
            "0a1b"
        );
        assert_eq!(r("{{with .Ports}}{{len .}}{{end}}", &v), "1");
        assert_eq!(r("{{$x := .Ports}}{{len $x}}", &v), "1");
    }

    #[test]
    fn method_style_label() {
        let v = json!({"Label": {"com.x": "v"}});
        assert_eq!(r(r#"{{.Label "com.x"}}"#, &v), "v");
        assert_eq!(r(r#"{{.Label "missing"}}"#, &v), "");
        assert_eq!(r(r#"{{json "<a&b>"}}"#, &v), r#""\u003ca\u0026b\u003e""#);
    }

    #[test]
    fn trim_markers_and_eq() {
        let v = json!({"S": "running"});
        assert_eq!(r("a  {{- .S -}}  b", &v), "arunningb");
        assert_eq!(r(r#"{{if eq .S "running"}}up{{end}}"#, &v), "up");
        assert_eq!(r(r#"{{printf "%s-%d" .S 3}}"#, &v), "running-3");
    }

    #[test]
    fn errors() {
        assert!(Template::parse("{{if .A}}x").is_err());
        assert!(Template::parse("{{end}}").is_err());
        assert!(Template::parse("{{.A").is_err());
        assert!(render("{{nosuch .A}}", &json!({})).is_err());
        assert!(render("{{.A.B}}", &json!({"A": 1})).is_err());
    }
}
