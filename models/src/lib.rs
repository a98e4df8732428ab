//! Hardware, LLMs, predictors and the simulated cluster: built in issues 3 and 5.
