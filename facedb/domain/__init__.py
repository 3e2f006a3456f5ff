"""Domain values shared by every layer: the frozen result types and the closed sets of
codes (decisions, roles, reasons). No database, no models: front ends import these
as types and choices without pulling in store/ or vision/."""
