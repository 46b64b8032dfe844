"""Physics variant families on top of today's simulator (docs/simulator.md, "Physics variant families").

``Scenario(variants=("regions", "contact"))`` turns them on; :mod:`simulators.families` draws whole
family sessions from a seed. Modules: :mod:`.regions`, :mod:`.contact`, :mod:`.helper`, :mod:`.movement`
(+ :mod:`.movement_motion`), :mod:`.sensors`; :mod:`.strokes` (per-contact physics), :mod:`.response`
(the limb's answer), :mod:`.body_hooks` (inside the body model), :mod:`.apply` (into the plan).
"""
