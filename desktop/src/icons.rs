//! The tray icons, drawn in code. The three states differ by shape, not only
//! by colour: a filled mound (on), a hollow mound (off), a triangle with `!`
//! (error).

use crate::state::Power;

/// Side of the tray icons, in pixels.
pub const SIZE: u32 = 32;

const GREEN: [u8; 3] = [0x2e, 0x9d, 0x57];
const GREY: [u8; 3] = [0x8a, 0x8f, 0x98];
const RED: [u8; 3] = [0xd9, 0x48, 0x2b];
const WHITE: [u8; 3] = [0xff, 0xff, 0xff];

/// The RGBA pixels (`SIZE`×`SIZE`) of the icon for `power`.
pub fn rgba(power: Power) -> Vec<u8> {
    match power {
        Power::On => render(|x, y| mound(x, y, false).then_some(GREEN)),
        Power::Off => render(|x, y| mound(x, y, true).then_some(GREY)),
        Power::Error => render(warning),
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

    fn opaque(p: Power) -> Vec<bool> {
        rgba(p).chunks(4).map(|px| px[3] > 127).collect()
    }

    #[test]
    fn icons_are_square_rgba() {
        for p in [Power::On, Power::Off, Power::Error] {
            assert_eq!(rgba(p).len(), (SIZE * SIZE * 4) as usize);
        }
    }

    #[test]
    fn the_three_states_differ_in_shape() {
        let (on, off, err) = (opaque(Power::On), opaque(Power::Off), opaque(Power::Error));
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
    }
}
