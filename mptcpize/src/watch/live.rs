//! The live view (ratatui over crossterm): one block per connection, one per path under
//! it, refreshed every interval, until `q`, Esc or Ctrl-C. The terminal is restored on
//! every way out: a key, an error, SIGTERM/SIGHUP/SIGINT, and a panic (ratatui's panic
//! hook, which runs before `panic = "abort"` aborts).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::symbols::bar::NINE_LEVELS;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use mptcp_socket::ConnectionKind;

use super::sample::{kind_name, state_name, ConnectionView, PathView, Refresh, Sampler};
use super::script_output::{interface_name, owner};

/// Set by SIGTERM, SIGHUP and SIGINT (Ctrl-C itself arrives as a key in raw mode).
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn request_stop(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn catch_stop_signals() {
    for signal in [libc::SIGTERM, libc::SIGHUP, libc::SIGINT] {
        // SAFETY: the handler only stores to an atomic (async-signal-safe).
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = request_stop as *const () as usize;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// Runs the live view; `first` is the refresh already taken (so that an error such as a
/// kernel without MPTCP diagnostics is printed before the screen is taken over).
pub fn run(mut sampler: Sampler, first: Refresh, interval: Duration) -> io::Result<()> {
    catch_stop_signals();
    let mut terminal = match ratatui::try_init() {
        Ok(terminal) => terminal,
        Err(err) => {
            restore_terminal();
            return Err(err);
        }
    };
    // ratatui's hook (set by try_init) leaves raw mode and the alternate screen; the cursor
    // is shown again only when the Terminal is dropped, which `panic = "abort"` never does.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        show_cursor();
        hook(info);
    }));
    let result = (|| -> io::Result<()> {
        let mut refresh = first;
        let mut scroll: u16 = 0;
        loop {
            let deadline = Instant::now() + interval;
            terminal.draw(|f| draw(f, &refresh, interval, &mut scroll))?;
            loop {
                if STOP.load(Ordering::Relaxed) {
                    return Ok(());
                }
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                // Short polls so that a stop signal is seen within 100 ms.
                let wait = (deadline - now).min(Duration::from_millis(100));
                if !event::poll(wait)? {
                    continue;
                }
                match event::read()? {
                    Event::Key(key) if key.kind != KeyEventKind::Release => {
                        match (key.code, key.modifiers.contains(KeyModifiers::CONTROL)) {
                            (KeyCode::Char('q') | KeyCode::Char('Q') | KeyCode::Esc, _)
                            | (KeyCode::Char('c'), true) => return Ok(()),
                            (KeyCode::Down | KeyCode::Char('j'), _) => {
                                scroll = scroll.saturating_add(1)
                            }
                            (KeyCode::Up | KeyCode::Char('k'), _) => {
                                scroll = scroll.saturating_sub(1)
                            }
                            (KeyCode::PageDown | KeyCode::Char(' '), _) => {
                                scroll = scroll.saturating_add(10)
                            }
                            (KeyCode::PageUp, _) => scroll = scroll.saturating_sub(10),
                            (KeyCode::Home, _) => scroll = 0,
                            _ => continue,
                        }
                        terminal.draw(|f| draw(f, &refresh, interval, &mut scroll))?;
                    }
                    Event::Resize(..) => {
                        terminal.draw(|f| draw(f, &refresh, interval, &mut scroll))?;
                    }
                    _ => {}
                }
            }
            refresh = sampler.refresh()?;
        }
    })();
    restore_terminal();
    result
}

/// Leaves raw mode and the alternate screen, and shows the cursor.
fn restore_terminal() {
    ratatui::restore();
    show_cursor();
}

fn show_cursor() {
    let _ = ratatui::crossterm::execute!(std::io::stdout(), ratatui::crossterm::cursor::Show);
}

fn draw(frame: &mut Frame, refresh: &Refresh, interval: Duration, scroll: &mut u16) {
    let [header, body] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(frame.area());
    let width = body.width as usize;
    let count = |k| refresh.connections.iter().filter(|c| c.kind == k).count();
    let (mptcp, fallback, tcp) = (
        count(ConnectionKind::Mptcp),
        count(ConnectionKind::FellBack),
        count(ConnectionKind::Tcp),
    );
    let mut summary = format!("{mptcp} mptcp");
    if fallback > 0 {
        summary += &format!(", {fallback} fallback");
    }
    if tcp > 0 {
        summary += &format!(", {tcp} tcp");
    }
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled("mptcpize watch", Style::new().bold()),
            Span::raw(format!(
                "  {summary}  every {:.1}s  q quit, ↑↓ scroll",
                interval.as_secs_f64()
            )),
        ]))
        .style(Style::new().reversed()),
        header,
    );
    let mut lines: Vec<Line> = Vec::new();
    if refresh.connections.is_empty() {
        lines.push(Line::from("no MPTCP connections (waiting for some)").dim());
    }
    if !refresh.subflows_matched {
        lines.push(
            Line::from(
                "the kernel did not say which connection each subflow belongs to: \
                 run as root to see the paths",
            )
            .yellow(),
        );
    }
    for conn in &refresh.connections {
        connection_lines(conn, width, &mut lines);
    }
    let max_scroll = (lines.len() as u16).saturating_sub(body.height);
    *scroll = (*scroll).min(max_scroll);
    frame.render_widget(Paragraph::new(lines).scroll((*scroll, 0)), body);
}

fn connection_lines(conn: &ConnectionView, width: usize, lines: &mut Vec<Line<'static>>) {
    let kind_style = match conn.kind {
        ConnectionKind::Mptcp => Style::new().fg(Color::Green).add_modifier(Modifier::BOLD),
        ConnectionKind::FellBack => Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ConnectionKind::Tcp => Style::new().add_modifier(Modifier::DIM),
    };
    let age = if conn.age_known {
        format!("age {}", duration(conn.seen))
    } else {
        format!("age ≥{}", duration(conn.seen))
    };
    let mut head = vec![
        Span::styled(owner(conn), Style::new().bold()),
        Span::raw(" "),
        Span::styled(kind_name(conn.kind).to_uppercase(), kind_style),
        Span::raw(format!(" {} {age}", state_name(conn.state))),
    ];
    if let Some(token) = conn.token {
        head.push(Span::raw(format!(" token {token:08x}")).dim());
    }
    // Shown once there are any: MPTCP-level retransmissions are rare on a sound path, and
    // with no subflow retransmitting they are the kernel's late window updates.
    if let Some(resent) = conn.mptcp_retrans.filter(|b| *b > 0) {
        head.push(Span::styled(
            format!(" resent {}", bytes(resent)),
            Style::new().fg(Color::Yellow),
        ));
    }
    if let Some(reason) = conn.reason {
        head.push(Span::styled(
            format!(" {reason}"),
            Style::new().fg(Color::Yellow),
        ));
    }
    lines.push(Line::from(head));
    lines.push(Line::from(format!("  {} → {}", conn.local, conn.remote)));
    let peak = conn
        .paths
        .iter()
        .flat_map(|p| p.history.iter().copied())
        .max()
        .unwrap_or(0);
    let last = conn.paths.len().saturating_sub(1);
    for (i, path) in conn.paths.iter().enumerate() {
        let (branch, stem) = if i == last {
            ("  └ ", "    ")
        } else {
            ("  ├ ", "  │ ")
        };
        path_lines(path, branch, stem, peak, width, lines);
    }
    lines.push(Line::from(""));
}

fn path_lines(
    path: &PathView,
    branch: &str,
    stem: &str,
    peak: u64,
    width: usize,
    lines: &mut Vec<Line<'static>>,
) {
    let mut first = vec![
        Span::raw(branch.to_owned()),
        Span::styled(interface_name(path, "?"), Style::new().fg(Color::Cyan)),
        Span::raw(format!(" {} → {}", path.local, path.remote)),
    ];
    if path.backup {
        first.push(Span::styled(" backup", Style::new().fg(Color::Magenta)));
    }
    if path.state != 1 {
        first.push(Span::styled(
            format!(" {}", state_name(path.state)),
            Style::new().fg(Color::Red),
        ));
    }
    lines.push(Line::from(first));
    let stats = format!(
        "{stem}↑{:>10} ↓{:>10} rtt {:>7} cwnd {:>5} rtx {:>4} ",
        rate(path.send_rate),
        rate(path.recv_rate),
        path.rtt_us
            .map(|us| format!("{:.1}ms", f64::from(us) / 1000.0))
            .unwrap_or_else(|| "-".into()),
        path.cwnd
            .map(|c| c.to_string())
            .unwrap_or_else(|| "-".into()),
        path.retransmits
            .map(|c| c.to_string())
            .unwrap_or_else(|| "-".into()),
    );
    let room = width.saturating_sub(stats.chars().count());
    let spark = sparkline(&path.history, peak, room);
    lines.push(Line::from(vec![
        Span::raw(stats),
        Span::styled(spark, Style::new().fg(Color::Green)),
    ]));
}

/// The last `room` samples as bar glyphs, scaled to `peak` (the connection's, so that its
/// paths compare).
pub fn sparkline(history: &[u64], peak: u64, room: usize) -> String {
    let glyphs = [
        " ",
        NINE_LEVELS.one_eighth,
        NINE_LEVELS.one_quarter,
        NINE_LEVELS.three_eighths,
        NINE_LEVELS.half,
        NINE_LEVELS.five_eighths,
        NINE_LEVELS.three_quarters,
        NINE_LEVELS.seven_eighths,
        NINE_LEVELS.full,
    ];
    let start = history.len().saturating_sub(room);
    history[start..]
        .iter()
        .map(|&v| {
            if peak == 0 || v == 0 {
                glyphs[0]
            } else {
                // Any traffic shows at least the lowest bar.
                glyphs[(1 + v * 7 / peak) as usize]
            }
        })
        .collect()
}

/// Bytes per second as bits per second with a unit.
pub fn rate(bytes_per_s: Option<f64>) -> String {
    let Some(bps) = bytes_per_s.map(|b| b * 8.0) else {
        return "-".into();
    };
    if bps >= 1e9 {
        format!("{:.2}Gb/s", bps / 1e9)
    } else if bps >= 1e6 {
        format!("{:.1}Mb/s", bps / 1e6)
    } else if bps >= 1e3 {
        format!("{:.1}kb/s", bps / 1e3)
    } else {
        format!("{bps:.0}b/s")
    }
}

/// A byte count with a binary unit.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1}{}", UNITS[unit])
}

fn duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_have_units() {
        assert_eq!(rate(None), "-");
        assert_eq!(rate(Some(0.0)), "0b/s");
        assert_eq!(rate(Some(1_250_000.0)), "10.0Mb/s");
        assert_eq!(rate(Some(125.0)), "1.0kb/s");
        assert_eq!(rate(Some(250_000_000.0)), "2.00Gb/s");
    }

    #[test]
    fn byte_counts_have_binary_units() {
        assert_eq!(bytes(0), "0B");
        assert_eq!(bytes(1023), "1023B");
        assert_eq!(bytes(1024), "1.0KiB");
        assert_eq!(bytes(65_536 + 512), "64.5KiB");
        assert_eq!(bytes(3 << 30), "3.0GiB");
        assert_eq!(bytes(u64::MAX), "16777216.0TiB");
    }

    #[test]
    fn sparkline_scales_and_fits() {
        let s = sparkline(&[0, 1, 50, 100], 100, 10);
        let glyphs: Vec<char> = s.chars().collect();
        assert_eq!(glyphs.len(), 4);
        assert_eq!(glyphs[0], ' ');
        assert_eq!(glyphs[1].to_string(), NINE_LEVELS.one_eighth);
        assert_eq!(glyphs[3].to_string(), NINE_LEVELS.full);
        assert_eq!(sparkline(&[1, 2, 3, 4, 5], 5, 2).chars().count(), 2);
    }

    #[test]
    fn durations() {
        assert_eq!(duration(Duration::from_secs(5)), "5s");
        assert_eq!(duration(Duration::from_secs(65)), "1m05s");
        assert_eq!(duration(Duration::from_secs(3725)), "1h02m");
    }
}
