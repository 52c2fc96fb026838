package mei

import (
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize"
)

// cmaRun drives one gonum optimize.CmaEsChol through its Method interface
// (Init, then Run on channels), the way optimize.Minimize does, but with
// the caller evaluating each whole population at once: Run sends the
// population's FuncEvaluation tasks, ask collects them, tell returns their
// values and waits for the MajorIteration (or MethodDone) that ends the
// generation; answering that MajorIteration starts the next population.
// CmaEsChol minimises; callers pass the negated objective.
//
// A cmaRun is used by one goroutine; its Run goroutine ends on stop.
type cmaRun struct {
	method  *optimize.CmaEsChol
	ops     chan optimize.Task
	results chan optimize.Task
	pending []optimize.Task // the population being evaluated
	next    optimize.Task   // the MajorIteration to answer for the next population
	started bool
	done    bool // the method converged (MethodDone)
	stopped bool

	bestX []float64
	bestF float64
}

// newCMARun starts CMA-ES at x0 with the initial step size (in the
// coordinates of x0) and population size, drawing from src.
func newCMARun(x0 []float64, step float64, population int, src rand.Source) *cmaRun {
	// CmaEsChol samples from N(mean, InitCholesky's matrix) and uses
	// InitStepSize only in its updates: both must say the step size.
	var chol mat.Cholesky
	id := mat.NewDiagDense(len(x0), nil)
	for i := range len(x0) {
		id.SetDiag(i, step*step)
	}
	if !chol.Factorize(id) {
		panic("mei: a diagonal covariance failed to factorise")
	}
	m := &optimize.CmaEsChol{InitStepSize: step, InitCholesky: &chol, Population: population, Src: src}
	n := m.Init(len(x0), population)
	tasks := make([]optimize.Task, n)
	for i := range tasks {
		tasks[i] = optimize.Task{ID: i, Op: optimize.NoOperation, Location: &optimize.Location{X: make([]float64, len(x0))}}
	}
	copy(tasks[0].X, x0)
	r := &cmaRun{
		method:  m,
		ops:     make(chan optimize.Task, n),
		results: make(chan optimize.Task, n),
		bestX:   slices.Clone(x0),
		bestF:   math.Inf(1),
	}
	go m.Run(r.ops, r.results, tasks)
	return r
}

// ask returns the next population's points (owned by the run: read them
// before tell). It returns nil once the method has converged.
func (r *cmaRun) ask(population int) [][]float64 {
	if r.done || r.stopped {
		return nil
	}
	if r.started {
		r.results <- r.next // answer the MajorIteration: send the next population
	}
	r.started = true
	r.pending = r.pending[:0]
	xs := make([][]float64, 0, population)
	for range population {
		t := <-r.ops
		r.pending = append(r.pending, t)
		xs = append(xs, t.X)
	}
	return xs
}

// tell gives the values of the points ask returned, in order, and waits
// for the end of the generation.
func (r *cmaRun) tell(fs []float64) {
	for i, t := range r.pending {
		t.F = fs[i]
		if fs[i] < r.bestF {
			r.bestF = fs[i]
			copy(r.bestX, t.X)
		}
		r.results <- t
	}
	t := <-r.ops
	switch t.Op {
	case optimize.MajorIteration:
		r.next = t
	default: // MethodDone: converged (or the update failed)
		r.done = true
	}
}

// stop ends the Run goroutine as Minimize does: a PostIteration, then the
// result channel closed and the operations drained until Run closes them.
func (r *cmaRun) stop() {
	if r.stopped {
		return
	}
	r.stopped = true
	r.results <- optimize.Task{Op: optimize.PostIteration}
	close(r.results)
	for range r.ops {
	}
}
