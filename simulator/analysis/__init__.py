"""Stage 3, analysis: risk measures with Monte Carlo errors (:func:`.risk.summarize`),
variants compared (:mod:`.compare`), terms swept and solved (:mod:`.sweep`), program return
(:mod:`.roi`), charts (:mod:`.plots`) and the report (:mod:`.report`)."""
