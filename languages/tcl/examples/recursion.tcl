# Recursion: factorial, memoized Fibonacci and the towers of Hanoi.

proc fact {n} {
    if {$n <= 1} {
        return 1
    }
    return [expr {$n * [fact [expr {$n - 1}]]}]
}

# The memo is a global dict shared by every call.
set memo [dict create 0 0 1 1]
proc fib {n} {
    global memo
    if {[dict exists $memo $n]} {
        return [dict get $memo $n]
    }
    set value [expr {[fib [expr {$n - 1}]] + [fib [expr {$n - 2}]]}]
    dict set memo $n $value
    return $value
}

proc hanoi {n from to via} {
    if {$n == 0} {
        return {}
    }
    set moves [hanoi [expr {$n - 1}] $from $via $to]
    lappend moves "$from->$to"
    return [concat $moves [hanoi [expr {$n - 1}] $via $to $from]]
}

foreach n {0 1 5 10 25} {
    puts "$n! = [fact $n]"
}
puts "fib(80) = [fib 80]"
set moves [hanoi 3 A C B]
puts "[llength $moves] moves: [join $moves {, }]"
