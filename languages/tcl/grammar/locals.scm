; Scopes, definitions and references for augment.rename (tree-sitter-tcl as bundled
; with tree-sitter-language-pack 0.13). Only `set name value` defines and `$name` reads:
; names given to other commands (incr, lappend, foreach, global, proc parameters) are
; plain words in this grammar, so a variable touched by them is not renamed consistently
; and the pipeline's equivalence check drops that variant.
(procedure) @local.scope
(set (id) @local.definition)
(variable_substitution (id) @local.reference)
