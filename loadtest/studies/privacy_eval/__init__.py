"""An evaluation of the privacy detectors on data nobody on the team wrote (issue 14): a generator
of labelled snippets (Faker values, keys made by `cryptography`, vendor key formats from
detect-secrets' plugins, inside text harvested from files others wrote), a split fixed by a hash
of the snippet id, and a scorer that runs the router's detectors or a reference side by side."""
