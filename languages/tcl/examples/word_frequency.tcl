# Word frequency: count words with a dict, then report them by count.

proc words_of {text} {
    set clean [string tolower [string map {, "" . "" "!" "" "?" ""} $text]]
    set words {}
    foreach w [split $clean] {
        if {$w ne ""} {
            lappend words $w
        }
    }
    return $words
}

proc frequencies {words} {
    set counts [dict create]
    foreach w $words {
        dict incr counts $w
    }
    return $counts
}

# Most frequent first; ties in alphabetical order.
proc compare_entries {a b} {
    set diff [expr {[lindex $b 1] - [lindex $a 1]}]
    if {$diff != 0} {
        return $diff
    }
    return [string compare [lindex $a 0] [lindex $b 0]]
}

set text "The cat saw the dog. The dog saw a bird, and the bird flew!"
set counts [frequencies [words_of $text]]
set entries {}
dict for {word n} $counts {
    lappend entries [list $word $n]
}
foreach entry [lsort -command compare_entries $entries] {
    puts [format "%-5s %d" [lindex $entry 0] [lindex $entry 1]]
}
puts "distinct words: [dict size $counts]"
