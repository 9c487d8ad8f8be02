//! The app's integration tests, in one test binary so the app is linked once.

mod cli;
mod gui;
mod pipeline;
