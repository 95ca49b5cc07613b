/// The names of all commands: `build.rs` makes a permission for each, the
/// capability grants them, and the tests check every one is allowed.
pub const NAMES: &[&str] = &[
    "get_status",
    "set_proxy",
    "get_settings",
    "save_settings",
    "subscribe_log",
    "clear_log",
    "export_log",
    "open_in_simulator",
    "copy_address",
    "set_system_proxy",
    "copy_pac_address",
    "get_start_at_login",
    "set_start_at_login",
    "quit",
    "app_info",
];
