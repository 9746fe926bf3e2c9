"""Text -> findings: rules, matching, gates, scoring, masking.

rules/ loads and checks the TOML rule pack; prefilter.py dismisses text with
no recovery word or shape in one pass; match.py finds code shapes and context
words; gates.py and score.py turn clusters of matches into findings with a
confidence; mask.py and reasons.py make sure no code leaves in full.
Imports nothing of mfaleaks but itself and the top-level modules: the engine
can be built and tested alone.
"""
