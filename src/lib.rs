pub mod core;
pub mod providers;
