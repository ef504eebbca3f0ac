# A stack and a queue kept in variables passed by name (upvar).

proc push {stackVar value} {
    upvar 1 $stackVar stack
    lappend stack $value
}

proc pop {stackVar} {
    upvar 1 $stackVar stack
    if {[llength $stack] == 0} {
        error "pop from an empty stack"
    }
    set top [lindex $stack end]
    set stack [lrange $stack 0 end-1]
    return $top
}

proc enqueue {queueVar value} {
    upvar 1 $queueVar queue
    lappend queue $value
}

proc dequeue {queueVar} {
    upvar 1 $queueVar queue
    set head [lindex $queue 0]
    set queue [lrange $queue 1 end]
    return $head
}

set s {}
foreach x {1 2 3} {
    push s $x
}
puts "stack: $s"
puts "popped [pop s], then [pop s]"
puts "stack now: $s"

set q {}
foreach job {build test deploy} {
    enqueue q $job
}
while {[llength $q] > 0} {
    puts "running [dequeue q]"
}

# Balanced brackets with a stack: ( ) and < >.
proc balanced {text} {
    set opens "(<"
    set closes ")>"
    set stack {}
    foreach c [split $text ""] {
        if {[string first $c $opens] >= 0} {
            lappend stack $c
        } elseif {[string first $c $closes] >= 0} {
            set want [string index $opens [string first $c $closes]]
            if {[lindex $stack end] ne $want} {
                return 0
            }
            set stack [lrange $stack 0 end-1]
        }
    }
    return [expr {[llength $stack] == 0}]
}
foreach t {"(a<b>)" "(>" "((" ""} {
    puts "balanced \"$t\": [balanced $t]"
}
