//! The profiles' identities and card settings, as plain constant data.
//!
//! This module has no dependencies on the rest of the crate, because the fixture generator
//! (`examples/make_fixtures.rs`) includes its source to know which keys, certificates and
//! rendered images to produce. Everything here is fake test data: invented Japanese names and
//! addresses, My Numbers that pass the check digit but were made up here, public test PINs.
//!
//! It does not hold keys, certificates or images (those are fixtures) and does not build card
//! files (that is `files`).

/// What is special about a profile's card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// A normal adult's card.
    Normal,
    /// The 4-digit PINs (JPKI user-authentication PIN and 券面事項入力補助AP PIN) have one try left.
    OneTryLeft,
    /// The 4-digit PINs are blocked (0 tries left) and the signing password too.
    Locked,
    /// A child under 15: no signing certificate, no signing key, no signing password.
    NoSignCertificate,
    /// A copy of a genuine card's files on another chip: every record verifies, but the chip's
    /// own key is not the one in the card-face record, so the challenge-response fails.
    CloneChipKey,
    /// Card-face records whose signature was not made by the certified key (forged data).
    CloneFaceSignature,
    /// The signing certificate's validity ended in the past.
    ExpiredSignCertificate,
}

/// A calendar date (Gregorian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ymd {
    /// Year.
    pub y: u16,
    /// Month 1–12.
    pub m: u8,
    /// Day 1–31.
    pub d: u8,
}

impl Ymd {
    /// `YYYYMMDD`.
    pub fn compact(self) -> String {
        format!("{:04}{:02}{:02}", self.y, self.m, self.d)
    }

    /// The Japanese era and the year within it (`None` before Meiji).
    pub fn era(self) -> Option<(&'static str, u16)> {
        // (era, first day) newest first.
        const ERAS: [(&str, Ymd); 5] = [
            (
                "令和",
                Ymd {
                    y: 2019,
                    m: 5,
                    d: 1,
                },
            ),
            (
                "平成",
                Ymd {
                    y: 1989,
                    m: 1,
                    d: 8,
                },
            ),
            (
                "昭和",
                Ymd {
                    y: 1926,
                    m: 12,
                    d: 25,
                },
            ),
            (
                "大正",
                Ymd {
                    y: 1912,
                    m: 7,
                    d: 30,
                },
            ),
            (
                "明治",
                Ymd {
                    y: 1868,
                    m: 1,
                    d: 25,
                },
            ),
        ];
        ERAS.iter()
            .find(|(_, start)| self >= *start)
            .map(|(name, start)| (*name, self.y - start.y + 1))
    }
}

/// One profile's constant data.
#[derive(Clone, Copy)]
pub struct Spec {
    /// Profile name (command line, file names).
    pub id: &'static str,
    /// One line saying what the card is for.
    pub summary: &'static str,
    /// What is special.
    pub variant: Variant,
    /// The face image in `shared/faces/` its chip photo was made from (file stem).
    pub face: &'static str,
    /// 氏名, family and given name separated by U+3000.
    pub name: &'static str,
    /// 氏名 in katakana (for people; not on the card).
    pub name_kana: &'static str,
    /// 住所.
    pub address: &'static str,
    /// 生年月日.
    pub birth: Ymd,
    /// 性別: b'1' male, b'2' female, b'9' not applicable.
    pub sex: u8,
    /// 個人番号: 11 digits; the check digit is computed.
    pub my_number_base: &'static str,
    /// 4-digit PIN (JPKI user authentication and 券面事項入力補助AP use the same value here).
    pub pin: &'static str,
    /// 署名用パスワード.
    pub sign_password: &'static str,
    /// 有効期限 of the card.
    pub expiry: Ymd,
    /// セキュリティコード printed on the card face (4 digits).
    pub security_code: &'static str,
    /// 全国地方公共団体コード of the issuing municipality (test values).
    pub municipality: &'static str,
}

/// The check digit of a My Number (個人番号) from its first 11 digits, as the law defines it:
/// weights 2–7 then 2–6 from the right, remainder by 11, `0` for remainders 0 and 1.
pub fn my_number_check_digit(first11: &str) -> Option<u8> {
    let digits: Vec<u32> = first11
        .chars()
        .map(|c| c.to_digit(10))
        .collect::<Option<_>>()?;
    if digits.len() != 11 {
        return None;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, p)| {
            let n = i as u32 + 1;
            let q = if n <= 6 { n + 1 } else { n - 5 };
            p * q
        })
        .sum();
    let r = sum % 11;
    Some(if r <= 1 { 0 } else { (11 - r) as u8 })
}

/// 照合番号B: 生年月日 as era YYMMDD + expiry year + security code (14 digits for a 4-digit
/// code).
pub fn code_b(birth: Ymd, expiry: Ymd, security_code: &str) -> String {
    format!("{}{:04}{}", birth_code(birth), expiry.y, security_code)
}

/// 生年月日 key of 券面事項確認AP: era YYMMDD (6 digits).
pub fn birth_code(birth: Ymd) -> String {
    let era_year = birth.era().map_or(0, |(_, y)| y);
    format!("{:02}{:02}{:02}", era_year % 100, birth.m, birth.d)
}

impl Spec {
    /// The full 12-digit My Number.
    pub fn my_number(&self) -> String {
        let check = my_number_check_digit(self.my_number_base).unwrap_or(0);
        format!("{}{}", self.my_number_base, check)
    }

    /// 照合番号B: 生年月日 as era YYMMDD + expiry year + security code (14 digits).
    pub fn code_b(&self) -> String {
        code_b(self.birth, self.expiry, self.security_code)
    }

    /// 生年月日 key of 券面事項確認AP: era YYMMDD (6 digits).
    pub fn birth_code(&self) -> String {
        birth_code(self.birth)
    }

    /// Whether the card carries a signing certificate and key.
    pub fn has_sign(&self) -> bool {
        self.variant != Variant::NoSignCertificate
    }

    /// Names of the three per-card keys in the fixtures.
    pub fn key_names(&self) -> [String; 3] {
        [
            format!("{}-auth", self.id),
            format!("{}-sign", self.id),
            format!("{}-chip", self.id),
        ]
    }
}

const fn ymd(y: u16, m: u8, d: u8) -> Ymd {
    Ymd { y, m, d }
}

/// Every profile. Names, addresses and numbers are invented; the addresses use real place
/// names with the test block 「試験」 so that no real household is named.
pub const SPECS: &[Spec] = &[
    Spec {
        id: "hopper",
        summary: "normal adult (face: grace_hopper_512x512.jpg)",
        variant: Variant::Normal,
        face: "grace_hopper_512x512",
        name: "試験\u{3000}花子",
        name_kana: "シケン\u{3000}ハナコ",
        address: "東京都千代田区霞が関試験一丁目１番１号",
        birth: ymd(1946, 12, 9),
        sex: b'2',
        my_number_base: "12345678901",
        pin: "1234",
        sign_password: "HOPPER2024",
        expiry: ymd(2031, 12, 9),
        security_code: "2285",
        municipality: "13101",
    },
    Spec {
        id: "biden",
        summary: "normal adult (face: biden.jpg)",
        variant: Variant::Normal,
        face: "biden",
        name: "見本\u{3000}一郎",
        name_kana: "ミホン\u{3000}イチロウ",
        address: "大阪府大阪市北区試験町二丁目３番４号",
        birth: ymd(1952, 11, 20),
        sex: b'1',
        my_number_base: "23456789012",
        pin: "2468",
        sign_password: "MIHON1952",
        expiry: ymd(2032, 11, 20),
        security_code: "1357",
        municipality: "27127",
    },
    Spec {
        id: "obama",
        summary: "normal adult (face: obama.jpg)",
        variant: Variant::Normal,
        face: "obama",
        name: "模擬\u{3000}太郎",
        name_kana: "モギ\u{3000}タロウ",
        address: "北海道札幌市中央区試験通三丁目５番６号",
        birth: ymd(1961, 8, 4),
        sex: b'1',
        my_number_base: "34567890123",
        pin: "4321",
        sign_password: "MOGITARO61",
        expiry: ymd(2033, 8, 4),
        security_code: "4821",
        municipality: "01101",
    },
    Spec {
        id: "obama2",
        summary: "normal adult (face: obama2.jpg)",
        variant: Variant::Normal,
        face: "obama2",
        name: "模擬\u{3000}次郎",
        name_kana: "モギ\u{3000}ジロウ",
        address: "宮城県仙台市青葉区試験台四丁目７番８号",
        birth: ymd(1990, 3, 15),
        sex: b'1',
        my_number_base: "45678901234",
        pin: "1357",
        sign_password: "JIRO1990",
        expiry: ymd(2034, 3, 15),
        security_code: "7710",
        municipality: "04101",
    },
    Spec {
        id: "obama3",
        summary: "normal adult (face: obama3.jpg)",
        variant: Variant::Normal,
        face: "obama3",
        name: "模擬\u{3000}三郎",
        name_kana: "モギ\u{3000}サブロウ",
        address: "愛知県名古屋市中区試験町五丁目９番１０号",
        birth: ymd(1975, 1, 30),
        sex: b'1',
        my_number_base: "56789012345",
        pin: "9753",
        sign_password: "SABURO75",
        expiry: ymd(2030, 1, 30),
        security_code: "0426",
        municipality: "23106",
    },
    Spec {
        id: "obama-partial",
        summary: "normal adult whose chip photo shows half a face (face: obama_partial_face.jpg)",
        variant: Variant::Normal,
        face: "obama_partial_face",
        name: "模擬\u{3000}四郎",
        name_kana: "モギ\u{3000}シロウ",
        address: "福岡県福岡市博多区試験六丁目１１番１２号",
        birth: ymd(1988, 6, 1),
        sex: b'1',
        my_number_base: "67890123456",
        pin: "8642",
        sign_password: "SHIRO88",
        expiry: ymd(2029, 6, 1),
        security_code: "3300",
        municipality: "40132",
    },
    Spec {
        id: "similar1",
        summary: "normal adult, look-alike set 1/3 (face: similarfaces_image1.png)",
        variant: Variant::Normal,
        face: "similarfaces_image1",
        name: "仮名\u{3000}由美",
        name_kana: "カメイ\u{3000}ユミ",
        address: "京都府京都市左京区試験町七丁目１３番地",
        birth: ymd(1993, 9, 12),
        sex: b'2',
        my_number_base: "78901234567",
        pin: "5555",
        sign_password: "YUMI1993",
        expiry: ymd(2035, 9, 12),
        security_code: "5820",
        municipality: "26103",
    },
    Spec {
        id: "similar2",
        summary: "normal adult, look-alike set 2/3 (face: similarfaces_image2.png)",
        variant: Variant::Normal,
        face: "similarfaces_image2",
        name: "仮名\u{3000}恵子",
        name_kana: "カメイ\u{3000}ケイコ",
        address: "兵庫県神戸市中央区試験八丁目１４番１５号",
        birth: ymd(1991, 2, 28),
        sex: b'2',
        my_number_base: "89012345678",
        pin: "7070",
        sign_password: "KEIKO0228",
        expiry: ymd(2032, 2, 28),
        security_code: "6143",
        municipality: "28110",
    },
    Spec {
        id: "similar3",
        summary: "normal adult, look-alike set 3/3 (face: similarfaces_image3.png)",
        variant: Variant::Normal,
        face: "similarfaces_image3",
        name: "仮名\u{3000}直子",
        name_kana: "カメイ\u{3000}ナオコ",
        address: "広島県広島市中区試験九丁目１６番地",
        birth: ymd(1984, 10, 10),
        sex: b'2',
        my_number_base: "90123456789",
        pin: "3141",
        sign_password: "NAOKO1010",
        expiry: ymd(2031, 10, 10),
        security_code: "9092",
        municipality: "34101",
    },
    Spec {
        id: "one-try-left",
        summary: "4-digit PINs (JPKI auth and 券面事項入力補助AP) have 1 try left",
        variant: Variant::OneTryLeft,
        face: "obama",
        name: "試験\u{3000}残一",
        name_kana: "シケン\u{3000}ザンイチ",
        address: "神奈川県横浜市中区試験十丁目１番２号",
        birth: ymd(1970, 4, 1),
        sex: b'1',
        my_number_base: "11122233344",
        pin: "1111",
        sign_password: "ONELEFT70",
        expiry: ymd(2030, 4, 1),
        security_code: "1200",
        municipality: "14104",
    },
    Spec {
        id: "locked",
        summary: "4-digit PINs and signing password blocked (0 tries left)",
        variant: Variant::Locked,
        face: "biden",
        name: "試験\u{3000}閉子",
        name_kana: "シケン\u{3000}シメコ",
        address: "埼玉県さいたま市浦和区試験十一丁目３番４号",
        birth: ymd(1965, 7, 7),
        sex: b'2',
        my_number_base: "22233344455",
        pin: "2222",
        sign_password: "LOCKED65",
        expiry: ymd(2031, 7, 7),
        security_code: "7777",
        municipality: "11107",
    },
    Spec {
        id: "minor",
        summary: "child under 15: no signing certificate, key or password",
        variant: Variant::NoSignCertificate,
        face: "similarfaces_image3",
        name: "試験\u{3000}若葉",
        name_kana: "シケン\u{3000}ワカバ",
        address: "千葉県千葉市中央区試験十二丁目５番６号",
        birth: ymd(2015, 5, 5),
        sex: b'2',
        my_number_base: "33344455566",
        pin: "0505",
        sign_password: "",
        expiry: ymd(2030, 5, 5),
        security_code: "0515",
        municipality: "12101",
    },
    Spec {
        id: "clone-chip",
        summary: "cloned card: genuine records copied to a chip whose key does not match",
        variant: Variant::CloneChipKey,
        face: "grace_hopper_512x512",
        name: "試験\u{3000}複製",
        name_kana: "シケン\u{3000}フクセイ",
        address: "静岡県静岡市葵区試験十三丁目７番８号",
        birth: ymd(1980, 2, 17),
        sex: b'1',
        my_number_base: "44455566677",
        pin: "4444",
        sign_password: "CLONE1980",
        expiry: ymd(2035, 2, 17),
        security_code: "2285",
        municipality: "22101",
    },
    Spec {
        id: "clone-face",
        summary: "forged card face: card-face and integrity signatures by an uncertified key",
        variant: Variant::CloneFaceSignature,
        face: "similarfaces_image1",
        name: "試験\u{3000}偽造",
        name_kana: "シケン\u{3000}ギゾウ",
        address: "新潟県新潟市中央区試験十四丁目９番地",
        birth: ymd(1982, 12, 24),
        sex: b'2',
        my_number_base: "55566677788",
        pin: "5656",
        sign_password: "FORGED82",
        expiry: ymd(2033, 12, 24),
        security_code: "6060",
        municipality: "15103",
    },
    Spec {
        id: "expired-sign",
        summary: "signing certificate expired (validity ended 2025-03-31)",
        variant: Variant::ExpiredSignCertificate,
        face: "similarfaces_image2",
        name: "試験\u{3000}期限",
        name_kana: "シケン\u{3000}キゲン",
        address: "長野県長野市試験十五丁目１０番１１号",
        birth: ymd(1978, 11, 3),
        sex: b'1',
        my_number_base: "66677788899",
        pin: "7878",
        sign_password: "EXPIRED78",
        expiry: ymd(2029, 11, 3),
        security_code: "8181",
        municipality: "20201",
    },
];

/// The shared keys of the test hierarchy, by fixture name.
pub const SHARED_KEYS: &[&str] = &[
    // X.509 roots of the JPKI test hierarchy.
    "root-auth",
    "root-sign",
    // Card-verifiable CA keys (証明者鍵ID 6990023 / 6990033; 699… is this project's own test
    // range, distinct from J-LIS's 6000… test keys).
    "cv-ca-kenkaku",
    "cv-ca-kenhojo",
    // The municipality keys certified by those CAs, which sign the 券面 records.
    "ap-kenkaku",
    "ap-kenhojo",
    // An uncertified key, for forged records.
    "forger",
];

/// Certificate validity and serials, shared by the generator and the tests.
pub mod validity {
    use super::{Ymd, ymd};

    /// Roots: not before.
    pub const ROOT_FROM: Ymd = ymd(2024, 1, 1);
    /// Roots: not after.
    pub const ROOT_TO: Ymd = ymd(2044, 1, 1);
    /// End-entity certificates: not before.
    pub const EE_FROM: Ymd = ymd(2025, 4, 1);
    /// End-entity certificates: not after.
    pub const EE_TO: Ymd = ymd(2030, 3, 31);
    /// The expired signing certificate: not before.
    pub const EXPIRED_FROM: Ymd = ymd(2020, 4, 1);
    /// The expired signing certificate: not after.
    pub const EXPIRED_TO: Ymd = ymd(2025, 3, 31);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digit_matches_a_published_example() {
        // The example used across public documentation of the algorithm: 12345678901 → 8.
        assert_eq!(my_number_check_digit("12345678901"), Some(8));
        assert_eq!(my_number_check_digit("1234567890"), None);
        assert_eq!(my_number_check_digit("1234567890a"), None);
    }

    #[test]
    fn code_b_follows_the_documented_example() {
        // 1980-02-17 (昭和55), expiry 2035, code 2285 → 55021720352285.
        let s = SPECS
            .iter()
            .find(|s| s.id == "clone-chip")
            .expect("profile");
        assert_eq!(s.code_b(), "55021720352285");
        assert_eq!(s.birth_code(), "550217");
    }

    #[test]
    fn eras() {
        assert_eq!(ymd(2019, 4, 30).era(), Some(("平成", 31)));
        assert_eq!(ymd(2019, 5, 1).era(), Some(("令和", 1)));
        assert_eq!(ymd(1989, 1, 7).era(), Some(("昭和", 64)));
        assert_eq!(ymd(1800, 1, 1).era(), None);
    }

    #[test]
    fn specs_are_well_formed() {
        let mut ids = std::collections::HashSet::new();
        for s in SPECS {
            assert!(ids.insert(s.id), "duplicate {}", s.id);
            assert_eq!(s.my_number().len(), 12);
            assert_eq!(s.pin.len(), 4);
            assert!(s.pin.bytes().all(|b| b.is_ascii_digit()));
            if s.has_sign() {
                assert!((6..=16).contains(&s.sign_password.len()), "{}", s.id);
                assert!(
                    s.sign_password
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                );
            }
            assert_eq!(s.code_b().len(), 14, "{}", s.id);
            assert!(s.name.contains('\u{3000}'));
        }
    }
}
