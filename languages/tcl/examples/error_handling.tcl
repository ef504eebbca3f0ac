# Raising and handling errors with error, catch and try.

proc parse_int {text} {
    if {![string is integer -strict $text]} {
        error "not an integer: \"$text\""
    }
    return [expr {$text + 0}]
}

proc average {values} {
    if {[llength $values] == 0} {
        throw {STATS EMPTY} "average of an empty list"
    }
    set sum 0
    foreach v $values {
        incr sum [parse_int $v]
    }
    return [expr {double($sum) / [llength $values]}]
}

foreach input {{1 2 3 4} {} {5 x 7}} {
    try {
        puts "average of {$input} = [average $input]"
    } on error {message options} {
        # The error code tells the two failures apart.
        if {[lindex [dict get $options -errorcode] 0] eq "STATS"} {
            puts "no data: $message"
        } else {
            puts "bad data: $message"
        }
    }
}

# catch returns 1 on error and leaves the message in a variable.
set code [catch {parse_int 12a} message]
puts "catch returned $code: $message"
set code [catch {parse_int -40} value]
puts "catch returned $code: $value"

# finally always runs, whether or not the body failed.
proc with_cleanup {script} {
    set log {}
    try {
        uplevel 1 $script
        lappend log ok
    } on error {message} {
        lappend log "failed ($message)"
    } finally {
        lappend log "cleaned up"
    }
    return $log
}
puts [with_cleanup {set x 1}]
puts [with_cleanup {error boom}]
