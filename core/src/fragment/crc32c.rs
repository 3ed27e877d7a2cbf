//! CRC-32C (Castagnoli), as the snappy framing format uses it.
//!
//! Computed by the `crc32c` crate, which uses the CPU's CRC instructions
//! (SSE 4.2 on x86-64, the CRC extension on aarch64) when present and its
//! own table-driven software fallback otherwise: the check then costs a
//! small fraction of snappy decompression.

/// The CRC-32C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    ::crc32c::crc32c(data)
}

/// The snappy framing format's masked CRC-32C of `data`.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    crc32c(data).rotate_right(15).wrapping_add(0xa282_ead8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_rfc3720_check_values() {
        assert_eq!(crc32c(b""), 0);
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62a8_ab43);
        let ascending: Vec<u8> = (0u8..32).collect();
        assert_eq!(crc32c(&ascending), 0x46dd_794e);
    }

    #[test]
    fn crc32c_agrees_with_the_bitwise_definition_on_every_length() {
        const POLY: u32 = 0x82f6_3b78; // reversed Castagnoli polynomial
        let data: Vec<u8> = (0..300u32).map(|i| (i * 31 + 7) as u8).collect();
        for len in 0..data.len() {
            let mut crc = !0u32;
            for &b in &data[..len] {
                crc ^= u32::from(b);
                for _ in 0..8 {
                    crc = if crc & 1 == 1 {
                        (crc >> 1) ^ POLY
                    } else {
                        crc >> 1
                    };
                }
            }
            assert_eq!(crc32c(&data[..len]), !crc, "length {len}");
        }
    }

    #[test]
    fn masked_crc_matches_the_snappy_framing_example() {
        // The masked CRC snap's own encoder writes for the same bytes.
        let data = b"hello, world\n";
        let mut framed = snap::write::FrameEncoder::new(Vec::new());
        std::io::Write::write_all(&mut framed, data).unwrap();
        let framed = framed.into_inner().unwrap();
        // Stream identifier (10 bytes), then a chunk header (4) and its CRC.
        let crc = u32::from_le_bytes(framed[14..18].try_into().unwrap());
        assert_eq!(masked_crc32c(data), crc);
    }
}
