# Draws the benchmark's plots from the data files plots.mjs wrote into one run's
# directory:  gnuplot -e "run='<run directory>'" plots.gp
# chat_turn_time.png, chat_storage.png, seed_clients.png (in that directory)

note = system("cat '".run."/plot_note.txt'")
set terminal pngcairo size 900,540 font "DejaVu Sans,11" noenhanced
set datafile missing "?"
set datafile separator "\t"
set grid lc rgb "#dddddd"
set key top left Left reverse opaque box lc rgb "#cccccc"
set border lc rgb "#555555"
sg = "#5b3fd9"; sgr = "#a996f5"; lg = "#e0762b"; lgd = "#2b9e6b"

set output run."/chat_turn_time.png"
set title "Chat turn time vs turn number (one thread, each turn appends ~1 kB)\n".note
set xlabel "turn (thin: every turn; thick: mean of the last 10 turns)"
set ylabel "turn time, ms (log scale)"
set logscale y
set xrange [1:*]
plot run."/chat_turns.dat" using 1:4 with lines lw 0.6 lc rgb "#c0e0762b" notitle, \
     "" using 1:5 with lines lw 0.6 lc rgb "#c02b9e6b" notitle, \
     "" using 1:2 with lines lw 0.6 lc rgb "#c05b3fd9" notitle, \
     "" using 1:3 with lines lw 0.6 lc rgb "#c0a996f5" notitle, \
     "" using 1:8 with lines lw 2.5 lc rgb lg title "LangGraph.js PostgresSaver", \
     "" using 1:9 with lines lw 2.5 lc rgb lgd title "LangGraph.js DeltaChannel (beta)", \
     "" using 1:6 with lines lw 2.5 lc rgb sg title "stategraph, sg_invoke returning the whole state", \
     "" using 1:7 with lines lw 2.5 lc rgb sgr title "stategraph, returning only the new reply"

set output run."/chat_storage.png"
set title "Storage vs turn number (tables + indexes after each turn)\n".note
set ylabel "storage, MB"
unset logscale y
set yrange [0:*]
plot run."/chat_storage.dat" using 1:3 with lines lw 2 lc rgb lg title "LangGraph.js PostgresSaver", \
     "" using 1:4 with lines lw 2 lc rgb lgd title "LangGraph.js DeltaChannel (beta)", \
     "" using 1:2 with lines lw 2 lc rgb sg title "stategraph"

set output run."/seed_clients.png"
set title "Seed graph (3 nodes, a new thread per invoke): invokes/s vs clients\n".note
set xlabel "clients (2 CPU cores)"
set ylabel "invokes/s (log scale)"
set logscale y
set yrange [*:*]
set logscale x 2
set xrange [*:*]
set xtics 2
set key bottom right
set offsets graph 0.05, graph 0.05, 0, 0
plot run."/seed_clients.dat" using 1:2 with linespoints lw 2 pt 7 ps 1.2 lc rgb sg title "stategraph (pgbench, sg_invoke)", \
     "" using 1:2:(sprintf("%.0f", $2)) with labels offset 0,1 notitle, \
     "" using 1:3 with linespoints lw 2 pt 7 ps 1.2 lc rgb lg title "LangGraph.js PostgresSaver (async callers)", \
     "" using 1:3:(sprintf("%.0f", $3)) with labels offset 0,1 notitle
