//! A compact QR code encoder (ISO/IEC 18004, byte mode only) and a
//! terminal renderer that draws two module rows per text line with
//! Unicode half blocks.
//!
//! Byte mode is all a `ws://` URL needs (lower-case letters rule out the
//! denser alphanumeric mode), so the encoder is short: build the data
//! codewords, add Reed–Solomon error correction per block, interleave,
//! place them in the zigzag order, and keep the mask with the lowest
//! penalty. The tests compare every module with the `qrcodegen` crate.

/// Error correction level: how much of the symbol may be damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ecc {
    /// About 7 % of codewords may be lost.
    Low,
    /// About 15 %.
    Medium,
    /// About 25 %.
    Quartile,
    /// About 30 %.
    High,
}

impl Ecc {
    const ALL: [Ecc; 4] = [Ecc::Low, Ecc::Medium, Ecc::Quartile, Ecc::High];

    fn index(self) -> usize {
        self as usize
    }

    /// The two bits written in the format information.
    fn format_bits(self) -> u32 {
        match self {
            Ecc::Low => 1,
            Ecc::Medium => 0,
            Ecc::Quartile => 3,
            Ecc::High => 2,
        }
    }
}

/// Error correction codewords per block, by level and version (1–40).
const ECC_PER_BLOCK: [[u8; 40]; 4] = [
    [
        7, 10, 15, 20, 26, 18, 20, 24, 30, 18, 20, 24, 26, 30, 22, 24, 28, 30, 28, 28, 28, 28, 30,
        30, 26, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30,
    ],
    [
        10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26, 26, 28, 28,
        28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28,
    ],
    [
        13, 22, 18, 26, 18, 24, 18, 22, 20, 24, 28, 26, 24, 20, 30, 24, 28, 28, 26, 30, 28, 30, 30,
        30, 30, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30,
    ],
    [
        17, 28, 22, 16, 22, 28, 26, 26, 24, 28, 24, 28, 22, 24, 24, 30, 28, 28, 26, 28, 30, 24, 30,
        30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30,
    ],
];

/// Number of error correction blocks, by level and version (1–40).
const BLOCKS: [[u8; 40]; 4] = [
    [
        1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 6, 6, 6, 6, 7, 8, 8, 9, 9, 10, 12, 12, 12, 13,
        14, 15, 16, 17, 18, 19, 19, 20, 21, 22, 24, 25,
    ],
    [
        1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17, 17, 18, 20, 21, 23,
        25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49,
    ],
    [
        1, 1, 2, 2, 4, 4, 6, 6, 8, 8, 8, 10, 12, 16, 12, 17, 16, 18, 21, 20, 23, 23, 25, 27, 29,
        34, 34, 35, 38, 40, 43, 45, 48, 51, 53, 56, 59, 62, 65, 68,
    ],
    [
        1, 1, 2, 4, 4, 4, 5, 6, 8, 8, 11, 11, 16, 16, 18, 16, 19, 21, 25, 25, 25, 34, 30, 32, 35,
        37, 40, 42, 45, 48, 51, 54, 57, 60, 63, 66, 70, 74, 77, 81,
    ],
];

/// An encoded QR code: a square of dark (`true`) and light modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrCode {
    version: u8,
    ecc: Ecc,
    mask: u8,
    size: usize,
    modules: Vec<bool>,
}

impl QrCode {
    /// Encodes `data` in byte mode in the smallest version that holds it at
    /// `ecc`, raising the level while the data still fits that version,
    /// with the best mask. `None` when the data is too long for version 40.
    pub fn encode(data: &[u8], ecc: Ecc) -> Option<QrCode> {
        let version = (1..=40).find(|&v| data_bits(data.len(), v) <= capacity_bits(v, ecc))?;
        let used = data_bits(data.len(), version);
        let ecc = Ecc::ALL
            .into_iter()
            .filter(|&e| e >= ecc && used <= capacity_bits(version, e))
            .max()
            .unwrap_or(ecc);
        QrCode::encode_with(data, version, ecc, None)
    }

    /// Encodes in exactly this version and level, with this mask (0–7) or
    /// the best one. `None` when the data does not fit or an argument is
    /// out of range.
    pub fn encode_with(data: &[u8], version: u8, ecc: Ecc, mask: Option<u8>) -> Option<QrCode> {
        if !(1..=40).contains(&version) || mask.is_some_and(|m| m > 7) {
            return None;
        }
        let codewords = data_codewords(data, version, ecc)?;
        let all = add_ecc_and_interleave(&codewords, version, ecc);
        let mut grid = Grid::new(version);
        grid.draw_function_patterns(version);
        grid.draw_codewords(&all);
        let mask = mask.unwrap_or_else(|| {
            (0..8)
                .min_by_key(|&m| {
                    let mut g = grid.clone();
                    g.apply_mask(m);
                    g.draw_format(ecc, m);
                    g.penalty()
                })
                .unwrap_or(0)
        });
        grid.apply_mask(mask);
        grid.draw_format(ecc, mask);
        Some(QrCode {
            version,
            ecc,
            mask,
            size: grid.size,
            modules: grid.dark,
        })
    }

    /// The version, 1–40 (the size is `17 + 4 × version` modules).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The error correction level used.
    pub fn ecc(&self) -> Ecc {
        self.ecc
    }

    /// The mask pattern used, 0–7.
    pub fn mask(&self) -> u8 {
        self.mask
    }

    /// Modules per side.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether the module at column `x`, row `y` is dark (false outside).
    pub fn get(&self, x: usize, y: usize) -> bool {
        x < self.size && y < self.size && self.modules[y * self.size + x]
    }

    /// Draws the code for a terminal: each character is one module wide and
    /// two tall (`▀`, `▄`, `█`, space), with a `quiet`-module light border.
    ///
    /// With `color`, modules are painted black on white with ANSI colours,
    /// which scans on any terminal theme. Without, light modules are drawn
    /// as blocks, which reads right on the usual dark terminal background
    /// (phone scanners also accept the inverted code a light one shows).
    pub fn render(&self, quiet: usize, color: bool) -> String {
        let span = self.size + 2 * quiet;
        let dark = |x: usize, y: usize| -> bool {
            x >= quiet && y >= quiet && self.get(x - quiet, y - quiet)
        };
        let mut out = String::with_capacity((span * 3 + 12) * span.div_ceil(2));
        for row in (0..span).step_by(2) {
            if color {
                out.push_str("\x1b[30;107m");
            }
            for x in 0..span {
                let top = dark(x, row);
                let bottom = row + 1 < span && dark(x, row + 1);
                // What is drawn in the foreground: dark modules in colour,
                // light ones without.
                let (t, b) = if color {
                    (top, bottom)
                } else {
                    (!top, row + 1 < span && !bottom)
                };
                out.push(match (t, b) {
                    (true, true) => '█',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (false, false) => ' ',
                });
            }
            if color {
                out.push_str("\x1b[0m");
            }
            out.push('\n');
        }
        out
    }
}

/// Bits the byte-mode segment takes: mode, count and data.
fn data_bits(len: usize, version: u8) -> usize {
    4 + count_bits(version) + 8 * len
}

/// Width of the byte-mode character count field.
fn count_bits(version: u8) -> usize {
    if version <= 9 { 8 } else { 16 }
}

/// Data capacity of a version and level, in bits.
fn capacity_bits(version: u8, ecc: Ecc) -> usize {
    data_codeword_count(version, ecc) * 8
}

fn table(t: &[[u8; 40]; 4], version: u8, ecc: Ecc) -> usize {
    usize::from(t[ecc.index()][usize::from(version) - 1])
}

/// Modules left for data and error correction once the function
/// patterns are drawn (remainder bits included).
fn raw_data_modules(version: u8) -> usize {
    let v = usize::from(version);
    let mut n = (16 * v + 128) * v + 64;
    if v >= 2 {
        let align = v / 7 + 2;
        n -= (25 * align - 10) * align - 55;
        if v >= 7 {
            n -= 36;
        }
    }
    n
}

fn data_codeword_count(version: u8, ecc: Ecc) -> usize {
    raw_data_modules(version) / 8
        - table(&ECC_PER_BLOCK, version, ecc) * table(&BLOCKS, version, ecc)
}

/// Mode indicator, count, data, terminator and padding, as bytes.
fn data_codewords(data: &[u8], version: u8, ecc: Ecc) -> Option<Vec<u8>> {
    let capacity = capacity_bits(version, ecc);
    let count = count_bits(version);
    if data.len() >= 1 << count || data_bits(data.len(), version) > capacity {
        return None;
    }
    let mut bits = Bits::default();
    bits.push(0b0100, 4);
    bits.push(data.len() as u32, count);
    for &b in data {
        bits.push(u32::from(b), 8);
    }
    let terminator = (capacity - bits.len).min(4);
    bits.push(0, terminator);
    bits.push(0, bits.len.wrapping_neg() & 7);
    let mut bytes = bits.bytes;
    for pad in [0xEC, 0x11].into_iter().cycle() {
        if bytes.len() * 8 >= capacity {
            break;
        }
        bytes.push(pad);
    }
    Some(bytes)
}

/// A growing big-endian bit string.
#[derive(Default)]
struct Bits {
    bytes: Vec<u8>,
    len: usize,
}

impl Bits {
    fn push(&mut self, value: u32, n: usize) {
        for i in (0..n).rev() {
            if self.len % 8 == 0 {
                self.bytes.push(0);
            }
            if (value >> i) & 1 == 1 {
                if let Some(last) = self.bytes.last_mut() {
                    *last |= 0x80 >> (self.len % 8);
                }
            }
            self.len += 1;
        }
    }
}

/// Splits the data into blocks, appends each block's Reed–Solomon
/// codewords, and interleaves the blocks column by column.
fn add_ecc_and_interleave(data: &[u8], version: u8, ecc: Ecc) -> Vec<u8> {
    let blocks = table(&BLOCKS, version, ecc);
    let ecc_len = table(&ECC_PER_BLOCK, version, ecc);
    let raw = raw_data_modules(version) / 8;
    let short_blocks = blocks - raw % blocks;
    let short_len = raw / blocks;
    let divisor = rs_divisor(ecc_len);
    let mut split = Vec::with_capacity(blocks);
    let mut k = 0;
    for i in 0..blocks {
        let len = short_len - ecc_len + usize::from(i >= short_blocks);
        let block = &data[k..k + len];
        k += len;
        split.push((block, rs_remainder(block, &divisor)));
    }
    let mut out = Vec::with_capacity(raw);
    for i in 0..short_len - ecc_len + 1 {
        for (block, _) in &split {
            if let Some(&b) = block.get(i) {
                out.push(b);
            }
        }
    }
    for i in 0..ecc_len {
        for (_, ecc) in &split {
            out.push(ecc[i]);
        }
    }
    out
}

/// Product in GF(2⁸) modulo x⁸ + x⁴ + x³ + x² + 1.
fn gf_mul(x: u8, y: u8) -> u8 {
    let mut z: u8 = 0;
    for i in (0..8).rev() {
        z = (z << 1) ^ ((z >> 7) * 0x1D);
        z ^= ((y >> i) & 1) * x;
    }
    z
}

/// The generator polynomial (x − α⁰)…(x − α^(degree−1)), highest power
/// first, without its leading 1.
fn rs_divisor(degree: usize) -> Vec<u8> {
    let mut poly = vec![0u8; degree];
    if let Some(last) = poly.last_mut() {
        *last = 1;
    }
    let mut root = 1u8;
    for _ in 0..degree {
        for j in 0..degree {
            poly[j] = gf_mul(poly[j], root);
            if j + 1 < degree {
                poly[j] ^= poly[j + 1];
            }
        }
        root = gf_mul(root, 2);
    }
    poly
}

fn rs_remainder(data: &[u8], divisor: &[u8]) -> Vec<u8> {
    let mut rem = vec![0u8; divisor.len()];
    for &b in data {
        let factor = b ^ rem[0];
        rem.rotate_left(1);
        if let Some(last) = rem.last_mut() {
            *last = 0;
        }
        for (r, &d) in rem.iter_mut().zip(divisor) {
            *r ^= gf_mul(d, factor);
        }
    }
    rem
}

/// The module grid while it is being built.
#[derive(Clone)]
struct Grid {
    size: usize,
    dark: Vec<bool>,
    /// Function modules (finders, timing, alignment, format, version) are
    /// not data and are never masked.
    function: Vec<bool>,
}

impl Grid {
    fn new(version: u8) -> Grid {
        let size = 17 + 4 * usize::from(version);
        Grid {
            size,
            dark: vec![false; size * size],
            function: vec![false; size * size],
        }
    }

    fn set(&mut self, x: usize, y: usize, dark: bool) {
        let i = y * self.size + x;
        self.dark[i] = dark;
        self.function[i] = true;
    }

    fn draw_function_patterns(&mut self, version: u8) {
        let size = self.size;
        for i in 0..size {
            self.set(6, i, i % 2 == 0);
            self.set(i, 6, i % 2 == 0);
        }
        for (cx, cy) in [(3, 3), (size - 4, 3), (3, size - 4)] {
            self.draw_finder(cx, cy);
        }
        let align = alignment_positions(version, size);
        let n = align.len();
        for (i, &x) in align.iter().enumerate() {
            for (j, &y) in align.iter().enumerate() {
                // The three corners already hold finder patterns.
                let corner = (i == 0 && (j == 0 || j == n - 1)) || (i == n - 1 && j == 0);
                if !corner {
                    for dy in 0..5usize {
                        for dx in 0..5usize {
                            let ring = usize::max(dx.abs_diff(2), dy.abs_diff(2));
                            self.set(x + dx - 2, y + dy - 2, ring != 1);
                        }
                    }
                }
            }
        }
        // Reserve the format areas now; the bits go in once the mask is known.
        self.draw_format(Ecc::Low, 0);
        if version >= 7 {
            let mut rem = u32::from(version);
            for _ in 0..12 {
                rem = (rem << 1) ^ ((rem >> 11) * 0x1F25);
            }
            let bits = u32::from(version) << 12 | rem;
            for i in 0..18 {
                let bit = (bits >> i) & 1 == 1;
                let a = size - 11 + i % 3;
                let b = i / 3;
                self.set(a, b, bit);
                self.set(b, a, bit);
            }
        }
    }

    /// A finder pattern with its light separator, centred on (cx, cy).
    fn draw_finder(&mut self, cx: usize, cy: usize) {
        for dy in 0..9 {
            for dx in 0..9 {
                let (Some(x), Some(y)) = ((cx + dx).checked_sub(4), (cy + dy).checked_sub(4))
                else {
                    continue;
                };
                if x < self.size && y < self.size {
                    let ring = usize::max(dx.abs_diff(4), dy.abs_diff(4));
                    self.set(x, y, ring != 2 && ring != 4);
                }
            }
        }
    }

    /// Both copies of the 15 format bits (level, mask, BCH code).
    fn draw_format(&mut self, ecc: Ecc, mask: u8) {
        let data = ecc.format_bits() << 3 | u32::from(mask);
        let mut rem = data;
        for _ in 0..10 {
            rem = (rem << 1) ^ ((rem >> 9) * 0x537);
        }
        let bits = (data << 10 | rem) ^ 0x5412;
        let bit = |i: usize| (bits >> i) & 1 == 1;
        let size = self.size;
        for i in 0..6 {
            self.set(8, i, bit(i));
        }
        self.set(8, 7, bit(6));
        self.set(8, 8, bit(7));
        self.set(7, 8, bit(8));
        for i in 9..15 {
            self.set(14 - i, 8, bit(i));
        }
        for i in 0..8 {
            self.set(size - 1 - i, 8, bit(i));
        }
        for i in 8..15 {
            self.set(8, size - 15 + i, bit(i));
        }
        self.set(8, size - 8, true);
    }

    /// Places the codewords in two-column stripes from the right, moving up
    /// and down alternately and skipping the vertical timing column.
    fn draw_codewords(&mut self, codewords: &[u8]) {
        let total = codewords.len() * 8;
        let mut i = 0;
        let mut right = self.size - 1;
        loop {
            if right == 6 {
                right = 5;
            }
            let upward = (right + 1) & 2 == 0;
            for vert in 0..self.size {
                let y = if upward { self.size - 1 - vert } else { vert };
                for x in [right, right - 1] {
                    let at = y * self.size + x;
                    if !self.function[at] && i < total {
                        self.dark[at] = (codewords[i >> 3] >> (7 - (i & 7))) & 1 == 1;
                        i += 1;
                    }
                }
            }
            if right < 3 {
                break;
            }
            right -= 2;
        }
    }

    fn apply_mask(&mut self, mask: u8) {
        for y in 0..self.size {
            for x in 0..self.size {
                let at = y * self.size + x;
                self.dark[at] ^= mask_flips(mask, x, y) && !self.function[at];
            }
        }
    }

    /// The standard's penalty: long runs, 2×2 blocks, finder look-alikes
    /// and dark/light imbalance. Lower is easier to scan.
    fn penalty(&self) -> usize {
        let n = self.size;
        let mut score = 0;
        for i in 0..n {
            score += line_penalty(&self.dark, i * n, 1, n);
            score += line_penalty(&self.dark, i, n, n);
        }
        for y in 0..n - 1 {
            for x in 0..n - 1 {
                let c = self.dark[y * n + x];
                if c == self.dark[y * n + x + 1]
                    && c == self.dark[(y + 1) * n + x]
                    && c == self.dark[(y + 1) * n + x + 1]
                {
                    score += 3;
                }
            }
        }
        let dark = self.dark.iter().filter(|&&d| d).count();
        let total = n * n;
        let k = (dark * 20).abs_diff(total * 10).div_ceil(total) - 1;
        score + k * 10
    }
}

/// Penalties of one row or column: 3 + (run − 5) per run of five or more
/// same-coloured modules, and 40 per 1:1:3:1:1 finder look-alike with four
/// light modules on one side (the area outside the symbol counts as light).
/// The line is `size` modules from `start`, `step` apart.
fn line_penalty(modules: &[bool], start: usize, step: usize, size: usize) -> usize {
    let line = (0..size).map(|k| modules[start + k * step]);
    let mut score = 0;
    // Run lengths, newest first; the light border counts as part of the
    // first and last light runs.
    let mut history = [0usize; 7];
    let push = |history: &mut [usize; 7], mut run: usize| {
        if history[0] == 0 {
            run += size;
        }
        history.rotate_right(1);
        history[0] = run;
    };
    let finders = |h: &[usize; 7]| {
        let m = h[1];
        let core = m > 0 && h[2] == m && h[3] == m * 3 && h[4] == m && h[5] == m;
        usize::from(core && h[0] >= m * 4 && h[6] >= m)
            + usize::from(core && h[6] >= m * 4 && h[0] >= m)
    };
    let mut color = false;
    let mut run = 0;
    for module in line {
        if module == color {
            run += 1;
            if run == 5 {
                score += 3;
            } else if run > 5 {
                score += 1;
            }
        } else {
            push(&mut history, run);
            if !color {
                score += finders(&history) * 40;
            }
            color = module;
            run = 1;
        }
    }
    if color {
        push(&mut history, run);
        run = 0;
    }
    push(&mut history, run + size);
    score + finders(&history) * 40
}

/// Whether mask pattern `mask` inverts the module at (x, y). Kept out of
/// line: the QR code is drawn once, so size matters more than speed.
#[inline(never)]
fn mask_flips(mask: u8, x: usize, y: usize) -> bool {
    match mask {
        0 => (x + y) % 2 == 0,
        1 => y % 2 == 0,
        2 => x % 3 == 0,
        3 => (x + y) % 3 == 0,
        4 => (x / 3 + y / 2) % 2 == 0,
        5 => x * y % 2 + x * y % 3 == 0,
        6 => (x * y % 2 + x * y % 3) % 2 == 0,
        _ => ((x + y) % 2 + x * y % 3) % 2 == 0,
    }
}

/// Centres of the alignment patterns along each axis.
fn alignment_positions(version: u8, size: usize) -> Vec<usize> {
    if version == 1 {
        return Vec::new();
    }
    let v = usize::from(version);
    let count = v / 7 + 2;
    let step = if v == 32 {
        26
    } else {
        (v * 4 + count * 2 + 1) / (count * 2 - 2) * 2
    };
    let mut positions: Vec<usize> = (0..count - 1).map(|i| size - 7 - i * step).collect();
    positions.push(6);
    positions.reverse();
    positions
}

#[cfg(test)]
mod tests {
    use super::*;
    use qrcodegen::{QrCode as Reference, QrCodeEcc, QrSegment, Version};

    fn reference_ecc(e: Ecc) -> QrCodeEcc {
        match e {
            Ecc::Low => QrCodeEcc::Low,
            Ecc::Medium => QrCodeEcc::Medium,
            Ecc::Quartile => QrCodeEcc::Quartile,
            Ecc::High => QrCodeEcc::High,
        }
    }

    fn same_modules(ours: &QrCode, theirs: &Reference) -> bool {
        let n = ours.size();
        theirs.size() as usize == n
            && (0..n)
                .all(|y| (0..n).all(|x| ours.get(x, y) == theirs.get_module(x as i32, y as i32)))
    }

    fn sample(len: usize, seed: u32) -> Vec<u8> {
        let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x >> 8) as u8
            })
            .collect()
    }

    #[test]
    fn matches_the_reference_encoder_with_its_own_version_level_and_mask() {
        let inputs: Vec<Vec<u8>> = [
            &b""[..],
            b"a",
            b"HELLO WORLD",
            b"ws://192.168.1.20:3000/ws?session=2f6c1e2a-8d3b-4c5e-9f10-3a4b5c6d7e8f",
            b"ws://[fe80::1]:65535/ws?session=00000000-0000-4000-8000-000000000000",
        ]
        .iter()
        .map(|s| s.to_vec())
        .chain(
            [17, 32, 100, 200, 500, 1000, 2000]
                .iter()
                .map(|&n| sample(n, n as u32)),
        )
        .collect();
        for data in &inputs {
            for ecc in Ecc::ALL {
                let ours = QrCode::encode(data, ecc);
                let theirs = Reference::encode_binary(data, reference_ecc(ecc)).ok();
                let (Some(ours), Some(theirs)) = (&ours, &theirs) else {
                    assert_eq!(ours.is_some(), theirs.is_some(), "{} bytes", data.len());
                    continue;
                };
                assert_eq!(
                    ours.version(),
                    theirs.version().value(),
                    "{} bytes",
                    data.len()
                );
                assert_eq!(ours.mask(), theirs.mask().value(), "{} bytes", data.len());
                assert_eq!(reference_ecc(ours.ecc()), theirs.error_correction_level());
                assert!(
                    same_modules(ours, theirs),
                    "{} bytes at {ecc:?}",
                    data.len()
                );
            }
        }
    }

    #[test]
    fn every_version_and_mask_matches_the_reference() {
        for version in 1..=40u8 {
            for ecc in [Ecc::Low, Ecc::High] {
                let mask = version % 8;
                let data = sample(usize::from(version) * 3, u32::from(version));
                let ours = QrCode::encode_with(&data, version, ecc, Some(mask)).expect("fits");
                let segs = [QrSegment::make_bytes(&data)];
                let theirs = Reference::encode_segments_advanced(
                    &segs,
                    reference_ecc(ecc),
                    Version::new(version),
                    Version::new(version),
                    Some(qrcodegen::Mask::new(mask)),
                    false,
                )
                .expect("fits");
                assert_eq!(ours.size(), 17 + 4 * usize::from(version));
                assert!(same_modules(&ours, &theirs), "version {version} {ecc:?}");
            }
        }
    }

    /// "HELLO" in byte mode, version 1, level M, mask 0, module by module
    /// ('#' dark), as two independent encoders draw it (the `qrcodegen`
    /// crate and Python's `qrcode` package agree on every module).
    #[test]
    fn known_version_1_symbol() {
        let expected = [
            "#######..###..#######",
            "#.....#.#.##..#.....#",
            "#.###.#...#...#.###.#",
            "#.###.#...##..#.###.#",
            "#.###.#.#.#.#.#.###.#",
            "#.....#..##.#.#.....#",
            "#######.#.#.#.#######",
            ".........#.##........",
            "#.#.#.#..#.#....#..#.",
            "#.#.#....##...#....#.",
            ".....##..##.#...#####",
            "#.#.##.#.##...#....#.",
            ".##..###.##.#.#.#.#..",
            "........#.##.#.#..##.",
            "#######....#.###..###",
            "#.....#...####.##....",
            "#.###.#.#.##.###..###",
            "#.###.#..#....##..##.",
            "#.###.#.#.#.#...#.#.#",
            "#.....#..##...#.#..#.",
            "#######.#.#.#.##..###",
        ];
        let qr = QrCode::encode_with(b"HELLO", 1, Ecc::Medium, Some(0)).expect("fits");
        let drawn: Vec<String> = (0..qr.size())
            .map(|y| {
                (0..qr.size())
                    .map(|x| if qr.get(x, y) { '#' } else { '.' })
                    .collect()
            })
            .collect();
        assert_eq!(drawn, expected);
    }

    #[test]
    fn too_long_is_refused_and_arguments_are_checked() {
        assert!(QrCode::encode(&vec![b'x'; 2954], Ecc::Low).is_none());
        assert!(QrCode::encode(&vec![b'x'; 2953], Ecc::Low).is_some());
        assert!(QrCode::encode_with(b"x", 0, Ecc::Low, None).is_none());
        assert!(QrCode::encode_with(b"x", 1, Ecc::Low, Some(8)).is_none());
        assert!(QrCode::encode_with(&[0; 20], 1, Ecc::Low, None).is_none());
    }

    #[test]
    fn renders_two_rows_per_line_with_a_quiet_zone() {
        let qr = QrCode::encode(b"ws://10.0.0.2:3000/ws?session=x", Ecc::Low).expect("fits");
        let n = qr.size();
        let plain = qr.render(2, false);
        let lines: Vec<&str> = plain.lines().collect();
        assert_eq!(lines.len(), (n + 4).div_ceil(2));
        assert!(lines.iter().all(|l| l.chars().count() == n + 4));
        // Light border drawn as blocks; the finder's dark corner as a gap.
        assert!(lines[0].chars().all(|c| c == '█'));
        assert_eq!(lines[1].chars().nth(1), Some('█'));
        assert_eq!(lines[1].chars().nth(2), Some(' '));
        let colored = qr.render(2, true);
        assert!(colored.starts_with("\x1b[30;107m"));
        assert_eq!(colored.lines().count(), lines.len());
        assert!(!plain.contains('\x1b'));
    }
}
