//! Placeholder: the engine helper replaces this file.
pub mod api;
