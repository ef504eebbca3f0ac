# Anonymous functions with apply, higher-order procedures and lmap.

# compose f g: a lambda that applies g, then f.
proc compose {f g} {
    return [list {x} "apply [list $f] \[apply [list $g] \$x\]"]
}

proc filter {pred xs} {
    set out {}
    foreach x $xs {
        if {[apply $pred $x]} {
            lappend out $x
        }
    }
    return $out
}

proc fold {fn acc xs} {
    foreach x $xs {
        set acc [apply $fn $acc $x]
    }
    return $acc
}

set double {{x} {expr {$x * 2}}}
set inc {{x} {expr {$x + 1}}}
set is_even {{x} {expr {$x % 2 == 0}}}
set add {{a b} {expr {$a + $b}}}

set numbers {1 2 3 4 5 6 7 8 9 10}
puts "doubled: [lmap n $numbers {apply $double $n}]"
puts "evens:   [filter $is_even $numbers]"
puts "sum:     [fold $add 0 $numbers]"

# A lambda built at run time: double, then increment.
set both [compose $inc $double]
puts "2x+1:    [lmap n {1 2 3} {apply $both $n}]"

# Sorting with a comparison command.
proc by_last_char {a b} {
    string compare [string index $a end] [string index $b end]
}
puts [lsort -command by_last_char {sum max min avg}]
puts [lsort -command by_last_char {tcl lua python go}]
