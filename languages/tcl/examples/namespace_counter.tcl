# Namespaces hold state and the procedures that use it.

namespace eval bank {
    variable accounts [dict create]

    proc open {name {balance 0}} {
        variable accounts
        if {[dict exists $accounts $name]} {
            error "account $name already exists"
        }
        dict set accounts $name $balance
        return $name
    }

    proc deposit {name amount} {
        variable accounts
        dict incr accounts $name $amount
        return [dict get $accounts $name]
    }

    proc withdraw {name amount} {
        variable accounts
        set balance [dict get $accounts $name]
        if {$amount > $balance} {
            return -code error "insufficient funds in $name"
        }
        dict set accounts $name [expr {$balance - $amount}]
        return [dict get $accounts $name]
    }

    proc report {} {
        variable accounts
        set lines {}
        foreach name [lsort [dict keys $accounts]] {
            lappend lines [format "%-6s %5d" $name [dict get $accounts $name]]
        }
        return [join $lines "\n"]
    }
}

bank::open alice 100
bank::open bob
puts "alice: [bank::deposit alice 50]"
puts "bob: [bank::deposit bob 20]"
puts "alice: [bank::withdraw alice 30]"
if {[catch {bank::withdraw bob 500} message]} {
    puts "refused: $message"
}
if {[catch {bank::open alice} message]} {
    puts "refused: $message"
}
puts [bank::report]
puts "accounts: [dict size $bank::accounts]"
