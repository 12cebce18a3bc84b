#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Backward,
}
impl Mode {
    pub fn parse(_s: &str) -> Option<Mode> {
        Some(Mode::Backward)
    }
    pub fn as_str(&self) -> &'static str {
        "backward"
    }
}
#[derive(Clone, Debug)]
pub struct Breaking {
    pub rule: &'static str,
    pub pointer: String,
    pub message: String,
}
#[derive(Clone, Debug)]
pub struct VersionBreak {
    pub from: u64,
    pub to: u64,
    pub breaking: Breaking,
}
pub fn check_versions(_v: &[(u64, &serde_json::Value)], _m: Mode) -> Vec<VersionBreak> {
    Vec::new()
}
