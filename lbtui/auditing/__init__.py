"""Auditing: what to run (selection), the example sets (examples), prompts as token ids
(prompts), the engine that scores them through a backend into the store, the prompt
view and the scoring benchmark."""
