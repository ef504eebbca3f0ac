# Matrices as lists of rows.

proc identity {n} {
    set rows {}
    for {set i 0} {$i < $n} {incr i} {
        set row {}
        for {set j 0} {$j < $n} {incr j} {
            lappend row [expr {$i == $j ? 1 : 0}]
        }
        lappend rows $row
    }
    return $rows
}

proc transpose {m} {
    set out {}
    set cols [llength [lindex $m 0]]
    for {set j 0} {$j < $cols} {incr j} {
        set col {}
        foreach row $m {
            lappend col [lindex $row $j]
        }
        lappend out $col
    }
    return $out
}

proc multiply {a b} {
    set bt [transpose $b]
    set out {}
    foreach row $a {
        set new {}
        foreach col $bt {
            set sum 0
            for {set k 0} {$k < [llength $row]} {incr k} {
                set sum [expr {$sum + [lindex $row $k] * [lindex $col $k]}]
            }
            lappend new $sum
        }
        lappend out $new
    }
    return $out
}

proc show {m} {
    foreach row $m {
        puts [join [lmap x $row {format %4d $x}] ""]
    }
}

set a {{1 2 3} {4 5 6}}
set b {{7 8} {9 10} {11 12}}
show [transpose $a]
puts "--"
show [multiply $a $b]
puts "--"
show [multiply [identity 2] [multiply $a $b]]
