//! `#[mptcp_tests::needs(…)]`, re-exported by the `mptcp-tests` support crate: see
//! [`macro@needs`].
//!
//! No `syn`: the attribute only reads a list of words and finds the function's name and
//! body, which `proc_macro`'s token trees give directly.

use proc_macro::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

// `ANSWERS`: this machine's answers, written by build.rs.
include!(concat!(env!("OUT_DIR"), "/answers.rs"));

/// What a test needs of the machine, declared once, above the test's `#[test]`:
///
/// ```ignore
/// #[mptcp_tests::needs(privileged, "nft", "curl")]
/// #[test]
/// fn through_a_firewall() {
///     // runs where the machine has all three
/// }
/// ```
///
/// The needs: `privileged` (root, network namespaces and MPTCP, with iproute2 and sysctl),
/// `mptcp_enabled` (MPTCP sockets in this namespace, root not needed), and any program of
/// `PROGRAMS` in `tests/src/environment.rs`, in quotes. Where the machine (probed when the
/// tests were built) lacks one, the test gets `#[ignore = "needs …"]` naming what is
/// missing, so the runner reports it as ignored, not passed. And whenever it runs (also with
/// `--include-ignored`, or built on another machine), it first checks the same needs with
/// `mptcp_tests::require`: it returns early with a printed reason, or fails under
/// `MPTCP_TESTS_NO_SKIP=1`.
#[proc_macro_attribute]
pub fn needs(attr: TokenStream, item: TokenStream) -> TokenStream {
    match expand(attr, item) {
        Ok(tokens) => tokens,
        Err((span, message)) => compile_error(span, &message),
    }
}

fn expand(attr: TokenStream, item: TokenStream) -> Result<TokenStream, (Span, String)> {
    let mut needs = Vec::new();
    let mut missing = Vec::new();
    for tree in attr {
        let (text, value) = match &tree {
            TokenTree::Punct(p) if p.as_char() == ',' => continue,
            TokenTree::Ident(i) => {
                let text = i.to_string();
                let value = match text.as_str() {
                    "privileged" => "::mptcp_tests::Need::Privileged".to_string(),
                    "mptcp_enabled" => "::mptcp_tests::Need::MptcpEnabled".to_string(),
                    _ => return Err((i.span(), unknown(&text))),
                };
                (text, value)
            }
            TokenTree::Literal(l) => {
                let text = l.to_string();
                (
                    text.clone(),
                    format!("::mptcp_tests::Need::Program({text})"),
                )
            }
            other => return Err((other.span(), unknown(&other.to_string()))),
        };
        let Some((_, words)) = ANSWERS.iter().find(|(need, _)| *need == text) else {
            return Err((tree.span(), unknown(&text)));
        };
        missing.extend(*words);
        needs.push(value);
    }
    if needs.is_empty() {
        return Err((
            Span::call_site(),
            "name what the test needs: #[mptcp_tests::needs(privileged, \"curl\")]".into(),
        ));
    }

    let mut tokens: Vec<TokenTree> = item.into_iter().collect();
    // Above `#[test]`, so that the test harness sees the `#[ignore]` added here: an attribute
    // below it comes too late for the harness's record of the test.
    let marked_test = tokens.windows(2).any(|pair| match pair {
        [TokenTree::Punct(hash), TokenTree::Group(attr)] if hash.as_char() == '#' => {
            attr.delimiter() == Delimiter::Bracket && attr.stream().to_string().trim() == "test"
        }
        _ => false,
    });
    if !marked_test {
        return Err((
            Span::call_site(),
            "#[mptcp_tests::needs(…)] goes above the test's #[test]".into(),
        ));
    }
    let name = tokens
        .windows(2)
        .find_map(|pair| match pair {
            [TokenTree::Ident(kw), TokenTree::Ident(name)] if kw.to_string() == "fn" => {
                Some(name.to_string())
            }
            _ => None,
        })
        .ok_or((
            Span::call_site(),
            "#[needs] goes on a test function".to_string(),
        ))?;
    let Some(TokenTree::Group(body)) = tokens.pop() else {
        return Err((
            Span::call_site(),
            "#[needs] goes on a function with a body".into(),
        ));
    };
    if body.delimiter() != Delimiter::Brace {
        return Err((
            body.span(),
            "#[needs] goes on a function with a body".into(),
        ));
    }

    let check: TokenStream = format!(
        "if !::mptcp_tests::require({name:?}, &[{}]) {{ return; }}",
        needs.join(", ")
    )
    .parse()
    .expect("the check parses");
    let mut new_body = check;
    new_body.extend(body.stream());
    let mut new_body = Group::new(Delimiter::Brace, new_body);
    new_body.set_span(body.span());

    let mut out = TokenStream::new();
    if !missing.is_empty() {
        let reason = format!("needs {}", missing.join(", "));
        out.extend(attribute("ignore", reason));
    }
    out.extend(tokens);
    out.extend([TokenTree::Group(new_body)]);
    Ok(out)
}

/// `#[name = "value"]`.
fn attribute(name: &str, value: String) -> [TokenTree; 2] {
    let inner: TokenStream = [
        TokenTree::Ident(Ident::new(name, Span::call_site())),
        TokenTree::Punct(Punct::new('=', Spacing::Alone)),
        TokenTree::Literal(Literal::string(&value)),
    ]
    .into_iter()
    .collect();
    [
        TokenTree::Punct(Punct::new('#', Spacing::Alone)),
        TokenTree::Group(Group::new(Delimiter::Bracket, inner)),
    ]
}

fn unknown(need: &str) -> String {
    format!(
        "unknown need `{need}`: `privileged`, `mptcp_enabled`, or a program of PROGRAMS in \
         tests/src/environment.rs, in quotes (add a new one there and to .ci/run)"
    )
}

/// `compile_error!("message")` at `span`.
fn compile_error(span: Span, message: &str) -> TokenStream {
    let mut literal = Literal::string(message);
    literal.set_span(span);
    let mut bang = Punct::new('!', Spacing::Alone);
    bang.set_span(span);
    let mut args = Group::new(Delimiter::Parenthesis, TokenTree::Literal(literal).into());
    args.set_span(span);
    [
        TokenTree::Ident(Ident::new("compile_error", span)),
        TokenTree::Punct(bang),
        TokenTree::Group(args),
        TokenTree::Punct(Punct::new(';', Spacing::Alone)),
    ]
    .into_iter()
    .collect()
}
