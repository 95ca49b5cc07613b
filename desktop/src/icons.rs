//! The tray icons, drawn in code. The four states differ by shape, not only
//! by colour: a hollow mound (off), a filled mound (listening), a filled
//! mound with a round badge (the system proxy points at Burrow), a triangle
//! with `!` (attention: port busy, system proxy changed by another program,
//! restore failed).

use crate::state::Icon;

/// Side of the tray icons, in pixels.
pub const SIZE: u32 = 32;

const GREEN: [u8; 3] = [0x2e, 0x9d, 0x57];
const GREY: [u8; 3] = [0x8a, 0x8f, 0x98];
const RED: [u8; 3] = [0xd9, 0x48, 0x2b];
const WHITE: [u8; 3] = [0xff, 0xff, 0xff];
const BLUE: [u8; 3] = [0x2b, 0x6c, 0xd9];

/// The RGBA pixels (`SIZE`×`SIZE`) of `icon`.
pub fn rgba(icon: Icon) -> Vec<u8> {
    match icon {
        Icon::Listening => render(|x, y| mound(x, y, false).then_some(GREEN)),
        Icon::SystemProxy => render(|x, y| {
            // A badge at the top right, with a gap around it so it reads at 16 px.
            let d = (x - 0.8).powi(2) + (y - 0.2).powi(2);
            if d < 0.17 * 0.17 {
                Some(BLUE)
            } else if d < 0.24 * 0.24 {
                None
            } else {
                mound(x, y, false).then_some(GREEN)
            }
        }),
        Icon::Off => render(|x, y| mound(x, y, true).then_some(GREY)),
        Icon::Attention => render(warning),
    }
}

/// Rasterises a shape given in unit coordinates (0..1, y down), 4×4 samples a pixel.
fn render(shape: impl Fn(f32, f32) -> Option<[u8; 3]>) -> Vec<u8> {
    const SAMPLES: u32 = 4;
    let mut out = Vec::with_capacity((SIZE * SIZE * 4) as usize);
    for py in 0..SIZE {
        for px in 0..SIZE {
            let (mut hits, mut sum) = (0u32, [0u32; 3]);
            for sy in 0..SAMPLES {
                for sx in 0..SAMPLES {
                    let x = (px as f32 + (sx as f32 + 0.5) / SAMPLES as f32) / SIZE as f32;
                    let y = (py as f32 + (sy as f32 + 0.5) / SAMPLES as f32) / SIZE as f32;
                    if let Some(c) = shape(x, y) {
                        hits += 1;
                        for i in 0..3 {
                            sum[i] += u32::from(c[i]);
                        }
                    }
                }
            }
            if hits == 0 {
                out.extend_from_slice(&[0, 0, 0, 0]);
            } else {
                let alpha = hits * 255 / (SAMPLES * SAMPLES);
                out.extend(sum.map(|s| (s / hits) as u8));
                out.push(alpha as u8);
            }
        }
    }
    out
}

/// A burrow mound: half an ellipse on a base line, with an arched entrance.
/// `hollow` keeps only a stroke along the outline.
fn mound(x: f32, y: f32, hollow: bool) -> bool {
    let (cx, base, rx, ry) = (0.5, 0.82, 0.46, 0.62);
    let e = ((x - cx) / rx).powi(2) + ((y - base) / ry).powi(2);
    let in_body = y <= base && e <= 1.0;
    if hollow {
        let stroke = 0.11;
        let inner = ((x - cx) / (rx - stroke)).powi(2) + ((y - base) / (ry - stroke)).powi(2);
        let on_base = y > base - stroke && y <= base && (x - cx).abs() <= rx;
        return in_body && (inner > 1.0 || on_base);
    }
    let (door_w, door_top) = (0.13, 0.6);
    let in_door = (x - cx).abs() < door_w
        && y <= base
        && (y >= door_top || (x - cx).powi(2) + (y - door_top).powi(2) < door_w * door_w);
    in_body && !in_door
}

/// A red triangle with a white exclamation mark.
fn warning(x: f32, y: f32) -> Option<[u8; 3]> {
    let (top, bottom) = (0.08, 0.92);
    let t = (y - top) / (bottom - top);
    if !(0.0..=1.0).contains(&t) || (x - 0.5).abs() > 0.47 * t {
        return None;
    }
    let bar = (x - 0.5).abs() < 0.065 && (0.36..0.68).contains(&y);
    let dot = (x - 0.5).powi(2) + (y - 0.79).powi(2) < 0.07 * 0.07;
    Some(if bar || dot { WHITE } else { RED })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opaque(p: Icon) -> Vec<bool> {
        rgba(p).chunks(4).map(|px| px[3] > 127).collect()
    }

    #[test]
    fn icons_are_square_rgba() {
        for p in [
            Icon::Listening,
            Icon::Off,
            Icon::Attention,
            Icon::SystemProxy,
        ] {
            assert_eq!(rgba(p).len(), (SIZE * SIZE * 4) as usize);
        }
    }

    #[test]
    fn the_four_states_differ_in_shape() {
        let (on, off, err) = (
            opaque(Icon::Listening),
            opaque(Icon::Off),
            opaque(Icon::Attention),
        );
        let sys = opaque(Icon::SystemProxy);
        let count = |v: &[bool]| v.iter().filter(|&&b| b).count();
        let at = |v: &[bool], x: u32, y: u32| v[(y * SIZE + x) as usize];
        // The hollow mound is empty inside, where the filled one is solid.
        assert!(count(&off) < count(&on));
        assert!(at(&on, 8, 19) && !at(&off, 8, 19));
        let differ = |a: &[bool], b: &[bool]| a.iter().zip(b).filter(|(x, y)| x != y).count();
        assert!(differ(&on, &err) > 100);
        assert!(differ(&off, &err) > 100);
        // The triangle's tip is at the top centre, where the mound has only its crest.
        assert!(at(&err, 16, 4));
        assert!(!at(&err, 3, 4));
        // The system proxy badge sits where the listening icon is empty.
        assert!(at(&sys, 25, 6) && !at(&on, 25, 6));
        assert!(differ(&sys, &on) > 20 && differ(&sys, &off) > 100 && differ(&sys, &err) > 100);
    }
}
