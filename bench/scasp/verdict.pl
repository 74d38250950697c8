% Loads s(CASP), then at run time a policy and a case (files given on the
% command line) and prints the three-valued verdict from two queries.
% Built into a saved state by bench/startup.py, so s(CASP) is not compiled
% on every run (as a `scasp` executable is not).

:- use_module(library(scasp)).
:- use_module(library(main)).

:- initialization(main, main).

main(Files) :-
    load_files(user:Files, []),
    % each query inside \+ \+: s(CASP) 1.1.4 fails inside (stack_parents/3)
    % on a second scasp/2 call in the same clause body otherwise
    (   \+ \+ scasp(covered, [])     -> Covered = true ; Covered = false ),
    (   \+ \+ scasp(not covered, []) -> Denied = true  ; Denied = false ),
    verdict(Covered, Denied, Verdict),
    format("~w~n", [Verdict]).

verdict(true,  true,  needs_information).
verdict(true,  false, covered).
verdict(false, true,  not_covered).
