//! Function scopes of a minified JavaScript file, found by a small tokenizer.
//!
//! Minifiers rename functions, so the name of the function enclosing a frame is recovered the
//! way error trackers do it: find the function scope around the minified position, take the
//! position of the token that names it (`function NAME(`, `NAME = function(`,
//! `NAME = (...) =>`, `NAME(...) {` methods, `class C { NAME() {} }`), and map that position
//! through the source map to its original name.
//!
//! This is not a parser: it tracks strings, template literals, comments, regular expression
//! literals and bracket nesting, which is what finding scope boundaries needs. Malformed input
//! never fails: unbalanced brackets simply end scopes early or late.

/// A position in the minified file: 0-based line, 0-based column in UTF-16 code units (the
/// unit of source map columns and of V8's columns).
pub type Pos = (u32, u32);

/// One named piece of a scope name: its text in the minified file and where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameRef {
    pub text: String,
    pub pos: Pos,
}

/// One function scope: `[start, end)` and what names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub start: Pos,
    pub end: Pos,
    /// The function's own name, when one can be found.
    pub name: Option<NameRef>,
    /// The enclosing class, for methods.
    pub class: Option<NameRef>,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Punct(&'static str),
    /// Strings, numbers, regexes, templates: values that only matter as "not punctuation".
    Value,
}

#[derive(Clone, Debug)]
struct SigTok {
    tok: Tok,
    pos: Pos,
}

#[derive(Debug)]
enum Open {
    Paren {
        /// The two significant tokens before `(`, for `NAME(`/`NAME = (` inference.
        before: [Option<SigTok>; 3],
        /// `function` seen before these parentheses: the next `{` after `)` is its body.
        function_name: Option<Option<NameRef>>,
    },
    Bracket,
    Brace {
        scope: Option<usize>,
        class_body: Option<Option<NameRef>>,
    },
    TemplateExpr,
}

/// A closed `(...)`: where it closed, the tokens before its `(`, and (for `function`
/// parameter lists) the function's name.
type ClosedParen = (Pos, [Option<SigTok>; 3], Option<Option<NameRef>>);

struct PendingBody {
    name: Option<NameRef>,
    start_depth: usize,
}

struct ExprArrow {
    scope: usize,
    depth: usize,
}

/// Finds the function scopes of `src`. Scopes are returned in order of their start.
pub fn find_scopes(src: &str) -> Vec<Scope> {
    Scanner::new(src).run()
}

struct Scanner<'a> {
    src: &'a str,
    bytes: &'a [u8],
    i: usize,
    line: u32,
    col: u32,
    stack: Vec<Open>,
    prev: [Option<SigTok>; 3],
    scopes: Vec<Scope>,
    /// After `)`: the `before` tokens of its `(` and whether it belonged to a `function`.
    last_paren: Option<ClosedParen>,
    pending_body: Option<PendingBody>,
    pending_class: Option<Option<NameRef>>,
    expr_arrows: Vec<ExprArrow>,
    /// A `function` keyword was seen and its parameter list has not started yet: its own
    /// name (once seen) and the name it is bound to (`NAME = function`).
    after_function: Option<(Option<NameRef>, Option<NameRef>)>,
}

const REGEX_AFTER_KEYWORDS: &[&str] = &[
    "return",
    "typeof",
    "instanceof",
    "in",
    "of",
    "new",
    "delete",
    "void",
    "throw",
    "case",
    "do",
    "else",
    "yield",
    "await",
];

const NOT_METHOD_NAMES: &[&str] = &[
    "if", "for", "while", "switch", "catch", "with", "function", "return", "typeof", "await",
];

impl<'a> Scanner<'a> {
    fn new(src: &'a str) -> Self {
        Self {
            src,
            bytes: src.as_bytes(),
            i: 0,
            line: 0,
            col: 0,
            stack: Vec::new(),
            prev: [None, None, None],
            scopes: Vec::new(),
            last_paren: None,
            pending_body: None,
            pending_class: None,
            expr_arrows: Vec::new(),
            after_function: None,
        }
    }

    fn pos(&self) -> Pos {
        (self.line, self.col)
    }

    fn peek(&self, off: usize) -> u8 {
        self.bytes.get(self.i + off).copied().unwrap_or(0)
    }

    /// Advances over one character, keeping line and UTF-16 column.
    fn bump(&mut self) {
        let Some(c) = self.src[self.i..].chars().next() else {
            return;
        };
        self.i += c.len_utf8();
        match c {
            '\n' => {
                self.line += 1;
                self.col = 0;
            }
            '\r' => {
                if self.peek(0) != b'\n' {
                    self.line += 1;
                    self.col = 0;
                }
            }
            '\u{2028}' | '\u{2029}' => {
                self.line += 1;
                self.col = 0;
            }
            c => self.col += c.len_utf16() as u32,
        }
    }

    fn push_sig(&mut self, tok: Tok, pos: Pos) {
        self.prev.rotate_right(1);
        self.prev[0] = Some(SigTok { tok, pos });
    }

    fn prev_is_regex_context(&self) -> bool {
        match &self.prev[0] {
            None => true,
            Some(SigTok {
                tok: Tok::Punct(p), ..
            }) => !matches!(*p, ")" | "]" | "}"),
            Some(SigTok {
                tok: Tok::Ident(w), ..
            }) => REGEX_AFTER_KEYWORDS.contains(&w.as_str()),
            Some(SigTok {
                tok: Tok::Value, ..
            }) => false,
        }
    }

    fn run(mut self) -> Vec<Scope> {
        while self.i < self.bytes.len() {
            let b = self.bytes[self.i];
            match b {
                b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => self.bump(),
                b'/' if self.peek(1) == b'/' => self.skip_line_comment(),
                b'/' if self.peek(1) == b'*' => self.skip_block_comment(),
                b'/' if self.prev_is_regex_context() => {
                    let pos = self.pos();
                    self.skip_regex();
                    self.push_sig(Tok::Value, pos);
                }
                b'"' | b'\'' => {
                    let pos = self.pos();
                    self.skip_string(b);
                    self.push_sig(Tok::Value, pos);
                }
                b'`' => {
                    let pos = self.pos();
                    self.bump();
                    self.scan_template();
                    self.push_sig(Tok::Value, pos);
                }
                b'0'..=b'9' => {
                    let pos = self.pos();
                    while self.peek(0).is_ascii_alphanumeric()
                        || matches!(self.peek(0), b'.' | b'_')
                    {
                        self.bump();
                    }
                    self.push_sig(Tok::Value, pos);
                }
                _ if is_ident_start(b) => self.ident(),
                _ if b >= 0x80 => {
                    // Non-ASCII identifier characters (or stray Unicode): treat as identifier.
                    self.ident();
                }
                _ => self.punct(),
            }
        }
        let end = self.pos();
        // Scopes left open by unbalanced input end at the end of the file.
        for s in &mut self.scopes {
            if s.end == (u32::MAX, u32::MAX) {
                s.end = end;
            }
        }
        self.scopes
    }

    fn skip_line_comment(&mut self) {
        while self.i < self.bytes.len() && !matches!(self.bytes[self.i], b'\n' | b'\r') {
            self.bump();
        }
    }

    fn skip_block_comment(&mut self) {
        self.bump();
        self.bump();
        while self.i < self.bytes.len() {
            if self.bytes[self.i] == b'*' && self.peek(1) == b'/' {
                self.bump();
                self.bump();
                return;
            }
            self.bump();
        }
    }

    fn skip_string(&mut self, quote: u8) {
        self.bump();
        while self.i < self.bytes.len() {
            match self.bytes[self.i] {
                b'\\' => {
                    self.bump();
                    self.bump();
                }
                b'\n' => return,
                c if c == quote => {
                    self.bump();
                    return;
                }
                _ => self.bump(),
            }
        }
    }

    fn skip_regex(&mut self) {
        self.bump();
        let mut in_class = false;
        while self.i < self.bytes.len() {
            match self.bytes[self.i] {
                b'\\' => {
                    self.bump();
                    self.bump();
                }
                b'\n' => return,
                b'[' => {
                    in_class = true;
                    self.bump();
                }
                b']' => {
                    in_class = false;
                    self.bump();
                }
                b'/' if !in_class => {
                    self.bump();
                    while is_ident_part(self.peek(0)) {
                        self.bump();
                    }
                    return;
                }
                _ => self.bump(),
            }
        }
    }

    /// Scans template text up to the closing backtick or to a `${`, which opens an expression.
    fn scan_template(&mut self) {
        while self.i < self.bytes.len() {
            match self.bytes[self.i] {
                b'\\' => {
                    self.bump();
                    self.bump();
                }
                b'`' => {
                    self.bump();
                    return;
                }
                b'$' if self.peek(1) == b'{' => {
                    self.bump();
                    self.bump();
                    self.stack.push(Open::TemplateExpr);
                    self.prev = [None, None, None];
                    return;
                }
                _ => self.bump(),
            }
        }
    }

    fn ident(&mut self) {
        let pos = self.pos();
        let start = self.i;
        // The first character always belongs to the word (`#private`, `\u0061`, Unicode).
        self.bump();
        while self.i < self.bytes.len() {
            let b = self.bytes[self.i];
            if is_ident_part(b) || b >= 0x80 {
                self.bump();
            } else {
                break;
            }
        }
        let word = &self.src[start..self.i];
        if word == "function" {
            let bound = self.inferred_name(&self.prev);
            self.after_function = Some((None, bound));
        } else if word == "class" {
            self.pending_class = Some(None);
        } else if let Some((own @ None, _)) = &mut self.after_function {
            *own = Some(NameRef {
                text: word.to_owned(),
                pos,
            });
        } else if let Some(None) = self.pending_class
            && word != "extends"
        {
            self.pending_class = Some(Some(NameRef {
                text: word.to_owned(),
                pos,
            }));
        }
        self.push_sig(Tok::Ident(word.to_owned()), pos);
    }

    fn punct(&mut self) {
        let pos = self.pos();
        let b = self.bytes[self.i];
        match b {
            b'(' => {
                self.bump();
                let function_name = self.after_function.take().map(|(own, bound)| own.or(bound));
                let before = self.prev.clone();
                self.stack.push(Open::Paren {
                    before,
                    function_name,
                });
                self.push_sig(Tok::Punct("("), pos);
            }
            b')' => {
                self.bump();
                self.close_expr_arrows_below(self.stack.len());
                if let Some(Open::Paren {
                    before,
                    function_name,
                }) = self.pop_until_paren()
                {
                    self.last_paren = Some((pos, before, function_name));
                }
                self.push_sig(Tok::Punct(")"), pos);
            }
            b'[' => {
                self.bump();
                self.stack.push(Open::Bracket);
                self.push_sig(Tok::Punct("["), pos);
            }
            b']' => {
                self.bump();
                self.close_expr_arrows_below(self.stack.len());
                self.stack.pop();
                self.push_sig(Tok::Punct("]"), pos);
            }
            b'{' => {
                self.bump();
                self.open_brace(pos);
                self.push_sig(Tok::Punct("{"), pos);
            }
            b'}' => {
                self.close_expr_arrows_below(self.stack.len());
                match self.stack.pop() {
                    Some(Open::TemplateExpr) => {
                        self.bump();
                        self.scan_template();
                        self.push_sig(Tok::Value, pos);
                        return;
                    }
                    Some(Open::Brace {
                        scope: Some(idx), ..
                    }) => {
                        self.bump();
                        let end = self.pos();
                        if let Some(s) = self.scopes.get_mut(idx) {
                            s.end = end;
                        }
                    }
                    _ => self.bump(),
                }
                self.push_sig(Tok::Punct("}"), pos);
            }
            b'=' if self.peek(1) == b'>' => {
                self.bump();
                self.bump();
                self.arrow(pos);
                self.push_sig(Tok::Punct("=>"), pos);
            }
            b',' | b';' => {
                self.bump();
                let depth = self.stack.len();
                self.close_expr_arrows_at(depth);
                self.push_sig(Tok::Punct(if b == b',' { "," } else { ";" }), pos);
            }
            b'=' => {
                self.bump();
                // `==`, `===` are not assignments; swallow them whole.
                if self.peek(0) == b'=' {
                    while self.peek(0) == b'=' {
                        self.bump();
                    }
                    self.push_sig(Tok::Punct("=="), pos);
                } else {
                    self.push_sig(Tok::Punct("="), pos);
                }
            }
            b':' => {
                self.bump();
                self.push_sig(Tok::Punct(":"), pos);
            }
            b'.' => {
                self.bump();
                self.push_sig(Tok::Punct("."), pos);
            }
            _ => {
                self.bump();
                self.push_sig(Tok::Punct("op"), pos);
            }
        }
    }

    fn pop_until_paren(&mut self) -> Option<Open> {
        // Tolerate unbalanced input: pop whatever is on top.
        self.stack.pop()
    }

    fn open_brace(&mut self, pos: Pos) {
        // `class X {`: a class body.
        if let Some(class) = self.pending_class.take() {
            self.stack.push(Open::Brace {
                scope: None,
                class_body: Some(class),
            });
            return;
        }
        let prev_is_close_paren = matches!(
            self.prev[0],
            Some(SigTok {
                tok: Tok::Punct(")"),
                ..
            })
        );
        let mut scope = None;
        if prev_is_close_paren && let Some((_, before, function_name)) = self.last_paren.take() {
            if let Some(name) = function_name {
                scope = Some(self.new_scope(pos, name, None));
            } else if let Some(SigTok {
                tok: Tok::Ident(word),
                pos: name_pos,
            }) = &before[0]
                && !NOT_METHOD_NAMES.contains(&word.as_str())
            {
                // `NAME(...) {`: a method (in a class body or an object literal).
                let class = match self.stack.last() {
                    Some(Open::Brace {
                        class_body: Some(c),
                        ..
                    }) => c.clone(),
                    _ => None,
                };
                let name = Some(NameRef {
                    text: word.clone(),
                    pos: *name_pos,
                });
                scope = Some(self.new_scope(pos, name, class));
            }
        }
        if scope.is_none()
            && let Some(p) = self.pending_body.take()
            && p.start_depth == self.stack.len()
        {
            scope = Some(self.new_scope(pos, p.name, None));
        }
        self.stack.push(Open::Brace {
            scope,
            class_body: None,
        });
    }

    fn arrow(&mut self, _pos: Pos) {
        // Name: `NAME = (a) =>`, `NAME = a =>`, `NAME: async (a) =>`.
        let name = match &self.prev[0] {
            Some(SigTok {
                tok: Tok::Punct(")"),
                ..
            }) => self
                .last_paren
                .as_ref()
                .and_then(|(_, before, _)| self.inferred_name(before)),
            Some(SigTok {
                tok: Tok::Ident(_), ..
            }) => {
                let before = [self.prev[1].clone(), self.prev[2].clone(), None];
                self.inferred_name(&before)
            }
            _ => None,
        };
        // Skip whitespace to see whether a block body follows.
        let mut j = self.i;
        while j < self.bytes.len() && self.bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        if self.bytes.get(j) == Some(&b'{') {
            self.pending_body = Some(PendingBody {
                name,
                start_depth: self.stack.len(),
            });
        } else {
            let idx = self.new_scope(self.pos(), name, None);
            self.expr_arrows.push(ExprArrow {
                scope: idx,
                depth: self.stack.len(),
            });
        }
    }

    /// `NAME =`, `NAME :`, `obj.NAME =`, `async` skipped: the name a function expression is
    /// bound to. `before` holds the tokens before the function, nearest first.
    fn inferred_name(&self, before: &[Option<SigTok>; 3]) -> Option<NameRef> {
        let mut toks = before.iter().flatten();
        let mut first = toks.next()?;
        if matches!(&first.tok, Tok::Ident(w) if w == "async") {
            first = toks.next()?;
        }
        if !matches!(first.tok, Tok::Punct("=") | Tok::Punct(":")) {
            return None;
        }
        match toks.next() {
            Some(SigTok {
                tok: Tok::Ident(w),
                pos,
            }) => Some(NameRef {
                text: w.clone(),
                pos: *pos,
            }),
            _ => None,
        }
    }

    fn new_scope(&mut self, start: Pos, name: Option<NameRef>, class: Option<NameRef>) -> usize {
        self.scopes.push(Scope {
            start,
            end: (u32::MAX, u32::MAX),
            name,
            class,
        });
        self.scopes.len() - 1
    }

    fn close_expr_arrows_at(&mut self, depth: usize) {
        let end = self.pos();
        while let Some(a) = self.expr_arrows.last() {
            if a.depth >= depth {
                if let Some(s) = self.scopes.get_mut(a.scope) {
                    s.end = end;
                }
                self.expr_arrows.pop();
            } else {
                break;
            }
        }
    }

    /// A closing bracket at `depth` ends every expression arrow opened inside it.
    fn close_expr_arrows_below(&mut self, depth: usize) {
        self.close_expr_arrows_at(depth);
    }
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b'$' || b == b'#' || b == b'\\'
}

fn is_ident_part(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

/// Flattens nested scopes into breakpoints: after `find_scopes`, the innermost scope at any
/// position is the last breakpoint at or before it. `None` marks code outside any function.
pub fn breakpoints(scopes: &[Scope]) -> Vec<(Pos, Option<usize>)> {
    // Events: (position, order, scope). Ends sort before starts at the same position, so a
    // scope ending where its sibling begins hands over cleanly.
    let mut events: Vec<(Pos, u8, usize)> = Vec::with_capacity(scopes.len() * 2);
    for (i, s) in scopes.iter().enumerate() {
        if s.end > s.start {
            events.push((s.start, 1, i));
            events.push((s.end, 0, i));
        }
    }
    events.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then_with(|| a.2.cmp(&b.2)));
    let mut open: Vec<usize> = Vec::new();
    let mut out: Vec<(Pos, Option<usize>)> = Vec::new();
    for (pos, kind, idx) in events {
        if kind == 1 {
            open.push(idx);
        } else if let Some(p) = open.iter().rposition(|&o| o == idx) {
            open.remove(p);
        }
        let top = open.last().copied();
        match out.last_mut() {
            Some((p, t)) if *p == pos => *t = top,
            _ => out.push((pos, top)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(src: &str) -> Vec<(String, Pos, Pos)> {
        find_scopes(src)
            .into_iter()
            .map(|s| {
                let mut n = s.name.map(|n| n.text).unwrap_or_else(|| "?".into());
                if let Some(c) = s.class {
                    n = format!("{}.{n}", c.text);
                }
                (n, s.start, s.end)
            })
            .collect()
    }

    #[test]
    fn finds_declarations_expressions_arrows_and_methods() {
        let src = "function a(x){return x}var b=function(){},c=(d)=>{};class K{m(){}static s(){}}o={p(){},q:function(){}};let r=x=>x+1,t=1;";
        let got: Vec<String> = names(src).into_iter().map(|n| n.0).collect();
        assert_eq!(got, ["a", "b", "c", "K.m", "K.s", "p", "q", "r"]);
    }

    #[test]
    fn strings_regexes_and_templates_do_not_open_scopes() {
        let src = "var s='function f(){',r=/[}{]/g,t=`${function g(){return 1}()}{`;function h(){}";
        let got: Vec<String> = names(src).into_iter().map(|n| n.0).collect();
        assert_eq!(got, ["g", "h"]);
    }

    #[test]
    fn control_flow_blocks_are_not_methods() {
        let got = names("function f(){if(a){}for(;;){}while(b){}try{}catch(e){}}");
        assert_eq!(got.len(), 1);
        // The body opens at 12 and the last `}` (index 54) closes it: the scope ends at 55.
        assert_eq!(got[0], ("f".to_owned(), (0, 12), (0, 55)));
    }

    #[test]
    fn breakpoints_nest() {
        let scopes = find_scopes("function a(){function b(){}x()}");
        let bp = breakpoints(&scopes);
        assert_eq!(
            bp,
            vec![
                ((0, 12), Some(0)),
                ((0, 25), Some(1)),
                ((0, 27), Some(0)),
                ((0, 31), None)
            ]
        );
    }

    #[test]
    fn columns_count_utf16_units() {
        let scopes = find_scopes("var s='😀';function f(){}");
        // `var s='` is 7 units, the emoji 2, then `';function ` 10: `f` starts at 20.
        assert_eq!(scopes[0].name.as_ref().map(|n| n.pos), Some((0, 20)));
    }
}
