#pragma once
// Exceptions thrown at the API boundary. Messages name the file or argument and the problem.

#include <stdexcept>
#include <string>

namespace qanet {

// Base of every error qanet reports.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A file could not be opened, decoded or written.
class IoError : public Error {
 public:
  using Error::Error;
};

// Arguments that cannot be processed: wrong shapes, negative labels, NaNs, bad options.
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

// A value that has no definition for the input, e.g. SEG with no ground-truth object.
class UndefinedValue : public Error {
 public:
  using Error::Error;
};

}  // namespace qanet
