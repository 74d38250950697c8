% A goal-directed prover over a policy's rules, translated from its ASP.
%
% This file is included into the module generated for each policy (see
% translate.py): every translated predicate is named asp_<name>, and
% kb_static/2 lists the predicates that do not depend on the case.
%
% The case is an association list Fact -> [Value, ...] kept in the
% backtrackable global variable kb_case; a fact absent from it is unknown.
% eval/3 evaluates a ground goal in Kleene's three-valued logic (true, false,
% unknown) and returns its proof tree; prove_verdict/2 decides the verdict by
% cases on the unknown facts the proof needs, so it is exact.

:- use_module(library(assoc)).
:- use_module(library(lists)).
:- use_module(library(http/json)).

% -- the case -----------------------------------------------------------------

case_values(F, Vs) :- b_getval(kb_case, Case), get_assoc(F, Case, Vs).

% A pair Fact-among(Values) states no value: it narrows the unknown Fact to
% Values (a product or ratio whose stated operands reach only those regions,
% kb/core/arithmetic.lp), so proofs by cases split it over those alone.
set_case(Pairs) :-
    exclude(among_pair, Pairs, Known), include(among_pair, Pairs, Among),
    list_to_assoc(Known, Case), b_setval(kb_case, Case),
    list_to_assoc(Among, Allowed), b_setval(kb_among, Allowed).

among_pair(_-among(_)).

allowed(F, V) :-
    (   catch(b_getval(kb_among, Allowed), _, fail), get_assoc(F, Allowed, among(Vs))
    ->  memberchk(V, Vs)
    ;   true
    ).

asp_value(F, V) :- case_values(F, Vs), member(V, Vs).
asp_known(F) :- case_values(F, _).

% -- three-valued connectives -------------------------------------------------

t_rank(false, 0).
t_rank(unknown, 1).
t_rank(true, 2).

t_and(A, B, C) :- t_rank(A, RA), t_rank(B, RB), R is min(RA, RB), t_rank(C, R).
t_or(A, B, C) :- t_rank(A, RA), t_rank(B, RB), R is max(RA, RB), t_rank(C, R).
t_not(true, false).
t_not(false, true).
t_not(unknown, unknown).

static_goal(G) :- functor(G, N, A), kb_static(N, A).

% -- evaluation ---------------------------------------------------------------

% eval(+Goal, -Truth, -Tree) for a ground Goal.
eval(asp_value(F, V), T, fact(F, V, T)) :- !,
    (   case_values(F, Vs)
    ->  ( memberchk(V, Vs) -> T = true ; T = false )
    ;   T = unknown
    ).
eval(asp_known(F), T, known(F, T)) :- !,
    ( case_values(F, _) -> T = true ; T = false ).
eval(kb_count(Elements, Guards), T, Tree) :- !,
    eval_lit(kb_count(Elements, Guards), T, [Tree]).
eval(G, T, static(G, T)) :- static_goal(G), !,
    ( call(G) -> T = true ; T = false ).
% The rule instances are those whose static literals hold; instances that
% differ only in variables the proof does not show are one alternative.
eval(G, T, rule(G, T, Support)) :-
    findall(BT-Kids, (clause(G, Body), bind_static(Body), eval_body(Body, BT, Kids)), Found),
    list_to_set(Found, Alternatives),
    foldl(alt_truth, Alternatives, false, T),
    support(T, Alternatives, Support).

alt_truth(BT-_, T0, T) :- t_or(T0, BT, T).

% A true goal shows one way it holds; a false or unknown one shows every
% rule instance and the literal that stops it.
support(true, Alternatives, [alt(Kids)]) :- !, memberchk(true-Kids, Alternatives).
support(_, Alternatives, Support) :- findall(alt(Kids), member(_-Kids, Alternatives), Support).

% eval_body(+Body, -Truth, -Kids): one solution per instance of the rule.
eval_body(true, true, []) :- !.
eval_body((A, B), T, Kids) :- !,
    eval_lit(A, TA, KA),
    (   TA == false
    ->  T = false, Kids = KA
    ;   eval_body(B, TB, KB),
        t_and(TA, TB, T),
        ( TB == false -> Kids = KB ; append(KA, KB, Kids) )
    ).
eval_body(L, T, Kids) :- eval_lit(L, T, Kids).

% Static literals and comparisons only select rule instances: they bind
% variables and are not shown.
eval_lit(\+ G, T, [neg(G, T, Tree)]) :- !,
    eval(G, T0, Tree),
    t_not(T0, T).
eval_lit(kb_cmp(C), true, []) :- !, call(C).
eval_lit(kb_count(Elements, Guards), T, [count(Guards, Items, T)]) :- !,
    count_items(Elements, Items),
    count_truth(Items, Guards, T).
% A ground static goal is asked once: its answers are all the same, and
% asking it again for each one multiplies the proofs of what follows (a
% conjunction of N parts was proved N times over, nested ones N^k times).
eval_lit(G, true, []) :- static_goal(G), !, call_static(G).
eval_lit(asp_value(F, V), T, [Tree]) :- var(V), !,
    asp_domain(F, V),
    eval(asp_value(F, V), T, Tree).
eval_lit(G, T, [Tree]) :- ground(G), !, eval(G, T, Tree).
eval_lit(G, T, [Tree]) :-
    findall(G, (clause(G, Body), bind_static(Body)), Found),
    sort(Found, Instances),
    member(G, Instances),
    eval(G, T, Tree).

% -- count aggregates ---------------------------------------------------------

% count_items(+Elements, -Items): item(Tuple, Truth, Kids) for each distinct
% tuple of the aggregate's elements: true if some instance of its condition
% holds, unknown if none holds but some may, false otherwise.
count_items(Elements, Items) :-
    findall(Tuple-BT-Kids,
            ( member(el(Tuple, Body), Elements), bind_static(Body),
              eval_body(Body, BT, Kids), ground(Tuple) ),
            Found),
    findall(Tuple, member(Tuple-_-_, Found), Tuples0),
    sort(Tuples0, Tuples),
    findall(item(Tuple, T, Kids),
            ( member(Tuple, Tuples),
              findall(BT-K, ( member(Tu-BT-K, Found), Tu == Tuple ), [First|Rest]),
              foldl(stronger, Rest, First, T-Kids) ),
            Items).

stronger(T1-K1, T0-K0, T-K) :-
    t_rank(T1, R1), t_rank(T0, R0),
    ( R1 > R0 -> T = T1, K = K1 ; T = T0, K = K0 ).

% count_truth(+Items, +Guards, -Truth): the count lies between the items that
% hold and those that hold or are unknown; each guard g(Op, Bound) reads
% "count Op Bound".
count_truth(Items, Guards, T) :-
    aggregate_all(count, member(item(_, true, _), Items), Yes),
    aggregate_all(count, member(item(_, unknown, _), Items), Maybe),
    foldl(guard_truth(Yes, Maybe), Guards, true, T).

guard_truth(Yes, Maybe, g(Op, Bound), T0, T) :-
    guard(Op, Yes, Maybe, Bound, G),
    t_and(T0, G, T).

guard(>=, Y, M, B, T) :- !, ( Y >= B -> T = true ; Y + M < B -> T = false ; T = unknown ).
guard(>, Y, M, B, T) :- !, B1 is B + 1, guard(>=, Y, M, B1, T).
guard(=<, Y, M, B, T) :- !, ( Y + M =< B -> T = true ; Y > B -> T = false ; T = unknown ).
guard(<, Y, M, B, T) :- !, B1 is B - 1, guard(=<, Y, M, B1, T).
guard(=, Y, M, B, T) :- !,
    ( Y =:= B, M =:= 0 -> T = true ; ( B < Y ; B > Y + M ) -> T = false ; T = unknown ).
guard(\=, Y, M, B, T) :- guard(=, Y, M, B, T0), t_not(T0, T).

% Run directly (every fact known, as covered_codes/2 does), the aggregate and
% the comparisons are ordinary goals.
kb_count(Elements, Guards) :-
    findall(Tuple, ( member(el(Tuple, Body), Elements), call(Body) ), Tuples0),
    sort(Tuples0, Tuples),
    length(Tuples, N),
    forall(member(g(Op, B), Guards), guard(Op, N, 0, B, true)).

kb_cmp(C) :- call(C).

bind_static(true) :- !.
bind_static((A, B)) :- !, bind_static(A), bind_static(B).
bind_static(kb_cmp(C)) :- !, ( ground(C) -> call(C) ; true ).
bind_static(kb_count(_, _)) :- !.
bind_static(\+ _) :- !.
bind_static(G) :- static_goal(G), !, call_static(G).
bind_static(_).

call_static(G) :- ( ground(G) -> once(G) ; call(G) ).

% -- verdicts by cases --------------------------------------------------------

% prove_verdict(-Verdict, -Tree): covered, not_covered or needs_information.
% The tree claims only what was proved: cases(F, Branches) when every value
% of F was explored and all give one decided verdict; differ(F, Witnesses,
% Proof) when the branches explored prove the case needs information (one
% branch that needs information, or two whose verdicts differ), with the
% three-valued proof that left it unknown; otherwise (no value of F
% completes the case) the three-valued proof alone.
prove_verdict(Verdict, Tree) :-
    eval(asp_covered, T, Proof),
    (   T == true -> Verdict = covered, Tree = Proof
    ;   T == false -> Verdict = not_covered, Tree = Proof
    ;   first_unknown(Proof, F),
        domain_values(F, Values),
        split(F, Values, Branches, Verdicts),
        sort(Verdicts, Distinct),
        (   Distinct = [Verdict], Verdict \== needs_information
        ->  Tree = cases(F, Branches)
        ;   Distinct = []
        ->  Verdict = needs_information, Tree = Proof
        ;   Verdict = needs_information,
            witnesses(Branches, Witnesses),
            Tree = differ(F, Witnesses, Proof)
        )
    ).

% witnesses(+Branches, -Witnesses): the branches that prove a split needs
% information: the branch that does, or the first branch and the last one,
% whose verdict differs from it (split/5 stops there).
witnesses(Branches, [B]) :-
    member(B, Branches), B = branch(_, needs_information, _), !.
witnesses([First|Rest], [First, Last]) :- last(Rest, Last).

% split(+Fact, +Values, -Branches, -Verdicts): the proof for each value of
% Fact, stopping at the first branch that needs information or whose verdict
% differs from an earlier one (the case then needs information, and those
% branches prove it).
split(F, Values, Branches, Verdicts) :- split(F, Values, none, Branches, Verdicts).

split(_, [], _, [], []).
split(F, [Vs|Rest], Seen, Branches, Verdicts) :-
    with_value(F, Vs, branch_verdict(V, P)),
    (   V == impossible
    ->  split(F, Rest, Seen, Branches, Verdicts)
    ;   Branches = [branch(Vs, V, P)|MoreBranches],
        Verdicts = [V|MoreVerdicts],
        (   ( V == needs_information ; Seen \== none, Seen \== V )
        ->  MoreBranches = [], MoreVerdicts = []
        ;   split(F, Rest, V, MoreBranches, MoreVerdicts)
        )
    ).

% A branch that no scenario allowed by the policy's integrity constraints
% completes has no verdict: it is left out of the proof by cases.
branch_verdict(V, P) :-
    (   consistent
    ->  once(prove_verdict(V, P))
    ;   V = impossible, P = none
    ).

% consistent: some completion of the case violates no integrity constraint
% (each constraint's body derives asp_kb_violated, see translate.py).
consistent :-
    eval(asp_kb_violated, T, Proof),
    (   T == false -> true
    ;   T == true -> fail
    ;   first_unknown(Proof, F),
        domain_values(F, Values),
        member(Vs, Values),
        with_value(F, Vs, consistent), !
    ).

with_value(F, Vs, Goal) :-
    b_getval(kb_case, Case0),
    put_assoc(F, Case0, Vs, Case),
    b_setval(kb_case, Case),
    call(Goal),
    b_setval(kb_case, Case0).

first_unknown(fact(F, _, unknown), F) :- !.
first_unknown(rule(_, _, Support), F) :- member(alt(Kids), Support), member(K, Kids),
    first_unknown(K, F), !.
first_unknown(neg(_, _, Tree), F) :- first_unknown(Tree, F).
first_unknown(count(_, Items, _), F) :-
    member(item(_, unknown, Kids), Items), member(K, Kids), first_unknown(K, F), !.

domain_values(F, Values) :-
    ( asp_fact(F, list) ; asp_fact(F, code_list) ), !,
    findall(O, asp_domain(F, O), Options),
    findall(S, subset_of(Options, S), Values).
domain_values(F, Values) :- findall([V], ( asp_domain(F, V), allowed(F, V) ), Values).

subset_of([], []).
subset_of([X|Xs], [X|Ys]) :- subset_of(Xs, Ys).
subset_of([_|Xs], Ys) :- subset_of(Xs, Ys).

% -- exhaustive verdicts -------------------------------------------------------

% covered_codes(+FactDomains, -Codes): FactDomains = [Fact-[Values1, ...], ...]
% where each Values is the value list of one scenario's fact; Codes lists, in
% mixed radix, every complete scenario that is covered (and allowed by the
% policy's integrity constraints).
covered_codes(FactDomains, Codes) :-
    findall(Code,
            ( assign(FactDomains, Pairs, Code), set_case(Pairs),
              \+ asp_kb_violated, asp_covered ),
            Codes).

assign([], [], 0).
assign([F-Choices|Rest], [F-Vs|Pairs], Code) :-
    assign(Rest, Pairs, Code0),
    length(Choices, N),
    nth0(I, Choices, Vs),
    Code is Code0 * N + I.

% -- interface -----------------------------------------------------------------

% verdict_json(+Pairs, -Json): the verdict and its proof tree, as JSON text.
verdict_json(Pairs, Json) :-
    set_case(Pairs),
    prove_verdict(Verdict, Tree),
    tree_dict(Tree, Dict),
    with_output_to(string(Json),
        json_write_dict(current_output, _{verdict: Verdict, root: Dict}, [width(0)])).

tree_dict(fact(F, V, T), _{kind: fact, fact: FS, value: VS, truth: T}) :-
    text(F, FS), text(V, VS).
tree_dict(known(F, T), _{kind: known, fact: FS, truth: T}) :- text(F, FS).
tree_dict(static(G, T), _{kind: static, pred: P, args: As, truth: T}) :- goal_parts(G, P, As).
tree_dict(neg(G, T, Tree), _{kind: not, pred: P, args: As, truth: T, children: [D]}) :-
    goal_parts(G, P, As), tree_dict(Tree, D).
tree_dict(rule(G, T, Support), _{kind: rule, pred: P, args: As, truth: T, alternatives: Alts}) :-
    goal_parts(G, P, As),
    findall(Ds, ( member(alt(Kids), Support), maplist(tree_dict, Kids, Ds) ), Alts).
tree_dict(count(Guards, Items, T), _{kind: count, truth: T, guards: Gs, items: Is}) :-
    findall(_{op: OS, bound: BS}, ( member(g(Op, B), Guards), text(Op, OS), text(B, BS) ), Gs),
    findall(_{tuple: TS, truth: IT, children: Ds},
            ( member(item(Tuple, IT, Kids), Items), tuple_text(Tuple, TS),
              maplist(tree_dict, Kids, Ds) ),
            Is).
tree_dict(cases(F, Branches), _{kind: cases, fact: FS, branches: Bs}) :-
    text(F, FS),
    findall(_{values: VSs, verdict: V, proof: D},
            ( member(branch(Vs, V, P), Branches), maplist(text, Vs, VSs), tree_dict(P, D) ), Bs).

tree_dict(differ(F, Branches, Proof), _{kind: differ, fact: FS, branches: Bs, unknown: U}) :-
    text(F, FS),
    tree_dict(Proof, U),
    findall(_{values: VSs, verdict: V, proof: D},
            ( member(branch(Vs, V, P), Branches), maplist(text, Vs, VSs), tree_dict(P, D) ), Bs).

goal_parts(kb_count(_, _), "count", []) :- !.
goal_parts(G, P, As) :-
    G =.. [Name|Args],
    atom_concat(asp_, Bare, Name), !,
    atom_string(Bare, P),
    maplist(text, Args, As).
goal_parts(G, P, []) :- term_string(G, P).

% A count's tuple as text: a criterion ID or value as it is, a goal without
% its asp_ prefix.
tuple_text(Tuple, S) :-
    Tuple =.. [t|Args],
    maplist(element_text, Args, Texts),
    atomic_list_concat(Texts, ', ', S).

element_text(G, S) :- compound(G), goal_parts(G, P, As), !,
    atomic_list_concat(As, ', ', Inner), format(string(S), "~w(~w)", [P, Inner]).
element_text(X, S) :- text(X, S).

text(X, S) :- string(X), !, S = X.
text(X, S) :- atom(X), !, atom_string(X, S).
text(X, S) :- term_string(X, S).
